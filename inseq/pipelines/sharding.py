"""Data-parallel dataset runs: which rows a process takes, and the few collectives the processes need.

Under ``torchrun --nproc_per_node N`` or ``accelerate launch`` every process gets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` from the launcher. Rank ``r`` of ``N`` attributes the rows whose index ``i`` has ``i % N == r``;
the processes coordinate through ``torch.distributed`` only at the start (rank 0 checks the run folder, the others
wait for its verdict) and at the end (a barrier before rank 0 merges). When the launcher did not initialise
``torch.distributed``, a ``gloo`` process group is created (it works on CPU, next to a model on GPU) and destroyed
at the end. Without a launcher the run is the single process ``rank 0/1``.

Example:
    >>> shard = Shard()
    >>> shard.owns(5), shard.label, shard.assigned(10)
    (True, '', 10)
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .attribution import PipelineError

__all__ = ["FAULT_ENV", "Shard", "shard_from_env"]

logger = logging.getLogger(__name__)

#: Crash drill for tests: ``"RANK:K"`` makes that rank kill itself (SIGKILL) once it has recorded K rows.
FAULT_ENV = "INSEQ_FAULT_KILL_AFTER_ROWS"
#: How long a rank waits for the others at a barrier.
BARRIER_TIMEOUT = timedelta(hours=2)


@dataclass
class Shard:
    """This process's share of a data-parallel run.

    Attributes:
        rank: Rank of this process (0 when not launched in parallel).
        world_size: Number of processes.
        local_rank: Rank on this machine (the GPU it uses).
        group: The ``torch.distributed`` group of the collectives (None for a single process).
        owns_group: Whether this run created the process group (and destroys it at the end).

    Example:
        >>> shard = Shard(rank=1, world_size=3)
        >>> [i for i in range(8) if shard.owns(i)], shard.assigned(8), shard.label
        ([1, 4, 7], 3, 'rank 1/3')
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    group: Any = None
    owns_group: bool = False

    @property
    def parallel(self) -> bool:
        """Whether several processes share the run."""
        return self.world_size > 1

    @property
    def label(self) -> str:
        """``"rank 1/4"`` in a parallel run, ``""`` otherwise."""
        return f"rank {self.rank}/{self.world_size}" if self.parallel else ""

    def owns(self, index: int) -> bool:
        """Whether the row ``index`` is this process's."""
        return index % self.world_size == self.rank

    def assigned(self, total: int) -> int:
        """How many of ``total`` rows are this process's."""
        return max(total - self.rank + self.world_size - 1, 0) // self.world_size

    def device_for(self, device: str | None) -> str | None:
        """The device of this process: an accelerator without index gets ``LOCAL_RANK`` (``"cuda"`` ->
        ``"cuda:1"`` on local rank 1), so that the processes of one machine use one GPU each.

        Example:
            >>> Shard(1, 2, 1).device_for("cuda"), Shard(1, 2, 1).device_for("cuda:0"), Shard().device_for("cuda")
            ('cuda:1', 'cuda:0', 'cuda')
        """
        if self.parallel and device in ("cuda", "xpu", "npu"):
            return f"{device}:{self.local_rank}"
        return device

    def barrier(self) -> None:
        """Wait for every process (no-op for a single process)."""
        if self.parallel:
            import torch.distributed as dist

            dist.barrier(group=self.group)

    def from_rank0(self, value: Any) -> Any:
        """Rank 0's ``value``, on every process (the others' ``value`` is ignored)."""
        if not self.parallel:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    def close(self) -> None:
        """Destroy the process group if this run created it."""
        if self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.owns_group = False

    def fault_drill(self, recorded: int) -> None:
        """Kill this process when :data:`FAULT_ENV` asks it to (crash-recovery tests)."""
        spec = os.environ.get(FAULT_ENV, "")
        if not spec:
            return
        rank, _, rows = spec.partition(":")
        if int(rank) == self.rank and recorded >= int(rows):
            logger.warning("%s: %s=%s, killing this process.", self.label or "rank 0/1", FAULT_ENV, spec)
            os.kill(os.getpid(), signal.SIGKILL)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise PipelineError(f"environment variable {name}={value!r} is not an integer (set by torchrun).") from None


def _gloo_group(dist: Any) -> Any:
    """A gloo group for object collectives when the default backend is another one (e.g. nccl)."""
    return None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")


def shard_from_env() -> Shard:
    """This process's :class:`Shard`, from ``torch.distributed`` or the launcher's environment variables.

    Raises:
        PipelineError: Inconsistent ``RANK`` / ``WORLD_SIZE``, or a launcher without ``MASTER_ADDR`` /
            ``MASTER_PORT``.

    Example:
        >>> shard_from_env().world_size  # doctest: +SKIP
        2
    """
    world, rank, local = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    try:
        import torch.distributed as dist

        initialised = dist.is_available() and dist.is_initialized()
    except ImportError:  # pragma: no cover - torch without distributed
        dist, initialised = None, False
    if initialised:
        rank, world = dist.get_rank(), dist.get_world_size()
        return Shard(rank, world, local, _gloo_group(dist) if world > 1 else None)
    if world < 1 or not 0 <= rank < world:
        raise PipelineError(f"RANK={rank} and WORLD_SIZE={world} are inconsistent: need 0 <= RANK < WORLD_SIZE.")
    if world == 1:
        return Shard(0, 1, local)
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if dist is None or not dist.is_available() or missing:
        raise PipelineError(
            f"WORLD_SIZE={world} but {' and '.join(missing) or 'torch.distributed'} is not available: launch "
            "with torchrun or accelerate launch, which set it."
        )
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=BARRIER_TIMEOUT)
    return Shard(rank, world, local, None, owns_group=True)
