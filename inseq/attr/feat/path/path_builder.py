"""inseq 0.7's ``MonotonicPathBuilder``: the monotonic paths of discretized integrated gradients as an object.

It wraps the kernel of :mod:`inseq.attr.feat.path.monotonic_path` (the cached kNN graph over the vocabulary and
:func:`~inseq.attr.feat.path.monotonic_path.build_monotonic_path`) behind inseq 0.7's methods: ``load``,
``get_monotonic_dims``, ``find_path`` and ``build_monotonic_path_embedding``.

Example:
    >>> import numpy as np
    >>> emb = torch.tensor(np.random.default_rng(0).normal(size=(30, 4)), dtype=torch.float32)
    >>> builder = MonotonicPathBuilder(emb, KnnGraph.build(emb.numpy(), n_neighbors=5))
    >>> words = builder.find_path(3, ref_idx=0, n_steps=4)
    >>> words[0], len(words)
    (3, 4)
    >>> builder.build_monotonic_path_embedding(3, baseline_idx=0, n_steps=6).shape
    torch.Size([6, 4])
"""

from __future__ import annotations

from enum import Enum

import numpy as np
import torch

from .monotonic_path import STRATEGIES, KnnGraph, build_monotonic_path, load_or_build_knn_graph

__all__ = ["MonotonicPathBuilder", "PathBuildingStrategies", "UnknownPathBuildingStrategy"]


class PathBuildingStrategies(Enum):
    """How the next word of a path is chosen among the neighbours of the current one."""

    GREEDY = "greedy"
    MAXCOUNT = "maxcount"


class UnknownPathBuildingStrategy(ValueError):
    """A path-building strategy other than those of :class:`PathBuildingStrategies`."""

    def __init__(self, strategy: object) -> None:
        super().__init__(f"Unknown path building strategy {strategy!r}; valid: {', '.join(STRATEGIES)}.")


def _strategy(strategy: str | PathBuildingStrategies) -> str:
    value = strategy.value if isinstance(strategy, PathBuildingStrategies) else strategy
    if value not in STRATEGIES:
        raise UnknownPathBuildingStrategy(strategy)
    return value


class MonotonicPathBuilder:
    """Monotonic paths from a word embedding to a baseline through the vocabulary (Sanyal and Ren, 2021).

    Args:
        vocabulary_embeddings: ``(vocab, hidden)`` input embeddings (as the model's first layer sees them).
        knn_graph: Nearest neighbours of every vocabulary entry.
        special_tokens: Ids never used as anchors of a path.
    """

    def __init__(
        self, vocabulary_embeddings: torch.Tensor, knn_graph: KnnGraph, special_tokens: list[int] | None = None
    ) -> None:
        self.vocabulary_embeddings = vocabulary_embeddings.detach().float().cpu()
        self.knn_graph = knn_graph
        self.special_tokens = set(special_tokens or [])

    @classmethod
    def load(
        cls,
        model_name: str,
        vocabulary_embeddings: torch.Tensor,
        special_tokens: list[int] | None = None,
        embedding_scaling: float = 1.0,
        n_neighbors: int = 50,
        mode: str = "distance",
    ) -> MonotonicPathBuilder:
        """The builder of a model: its kNN graph is read from the artifacts cache, or built and saved (``.npz``)."""
        embeddings = vocabulary_embeddings.detach().float().cpu() * embedding_scaling
        graph, _ = load_or_build_knn_graph(embeddings.numpy(), model_name, n_neighbors=n_neighbors, mode=mode)
        return cls(embeddings, graph, special_tokens)

    @staticmethod
    def get_monotonic_dims(
        interpolated_embeds: torch.Tensor, baseline_embeds: torch.Tensor, input_embeds: torch.Tensor
    ) -> torch.Tensor:
        """Boolean mask of the dimensions where ``interpolated_embeds`` lies between the baseline and the input.

        Example:
            >>> MonotonicPathBuilder.get_monotonic_dims(
            ...     torch.tensor([0.5, 2.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0])
            ... ).tolist()
            [True, False]
        """
        low = torch.minimum(baseline_embeds, input_embeds)
        high = torch.maximum(baseline_embeds, input_embeds)
        return (interpolated_embeds >= low) & (interpolated_embeds <= high)

    def find_path(
        self,
        word_idx: int,
        ref_idx: int | None = None,
        n_steps: int = 30,
        strategy: str | PathBuildingStrategies = "greedy",
    ) -> list[int]:
        """Ids of the words a path visits, from ``word_idx``: ``n_steps`` anchors, each an unused graph neighbour of
        the previous one (ranked with ``strategy`` against the baseline word ``ref_idx``), special tokens skipped.
        """
        chosen = _strategy(strategy)
        emb = self.vocabulary_embeddings
        baseline = emb[ref_idx] if ref_idx is not None else torch.zeros_like(emb[0])
        path, current, used = [int(word_idx)], emb[word_idx], {int(word_idx)}
        for step in range(n_steps - 1):
            candidates = [
                int(c)
                for c in self.knn_graph.indices[path[-1]]
                if int(c) not in used and int(c) not in self.special_tokens
            ]
            if not candidates:
                break
            anchors = emb[candidates]
            ok = self.get_monotonic_dims(anchors, baseline.expand_as(anchors), current.expand_as(anchors))
            share = 1.0 / (n_steps - step)
            projected = torch.where(ok, anchors, current - share * (current - baseline))
            if chosen == "greedy":
                best = int(torch.linalg.vector_norm(anchors - projected, dim=-1).argmin())
            else:
                best = int(ok.sum(-1).argmax())
            path.append(candidates[best])
            used.add(candidates[best])
            current = projected[best]
        return path

    def build_monotonic_path_embedding(
        self, word_idx: int, baseline_idx: int | None = None, n_steps: int = 30, strategy: str = "greedy"
    ) -> torch.Tensor:
        """``(n_steps, hidden)`` monotonic path from the baseline embedding (first) to the word's embedding (last)."""
        emb = self.vocabulary_embeddings
        baseline = emb[baseline_idx] if baseline_idx is not None else torch.zeros_like(emb[0])
        path = build_monotonic_path(
            int(word_idx), emb.numpy(), baseline.numpy(), self.knn_graph, n_steps, strategy=_strategy(strategy)
        )
        return torch.from_numpy(np.asarray(path, dtype=np.float32))
