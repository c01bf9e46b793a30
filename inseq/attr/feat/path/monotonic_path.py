"""Monotonic paths through the vocabulary embedding space, for discretized integrated gradients (DIG).

Sanyal and Ren (2021) replace the straight line of integrated gradients by a path that hops between (projections
of) real word embeddings. From the input word the path repeatedly picks an *anchor* among the nearest neighbours of
the current word in a k-nearest-neighbour graph over the vocabulary, then *monotonizes* it: every dimension where the
anchor does not lie between the current point and the baseline is moved a uniform share of the remaining way to the
baseline instead. Every dimension of the path therefore moves monotonically from the input to the baseline.

The kNN graph over the vocabulary is computed once per model and cached on disk as a ``.npz`` file (no pickle),
under ``$INSEQ_ARTIFACTS_CACHE/dig_knn`` (default ``~/.cache/inseq/artifacts/dig_knn``), written atomically.

Example:
    >>> import numpy as np
    >>> emb = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    >>> graph = KnnGraph.build(emb, n_neighbors=5)
    >>> path = build_monotonic_path(3, emb, emb[0], graph, n_points=6)
    >>> path.shape, bool(np.allclose(path[0], emb[0])), bool(np.allclose(path[-1], emb[3]))
    ((6, 4), True, True)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STRATEGIES = ("greedy", "maxcount")
MODES = ("distance", "connectivity")


def artifacts_cache_dir() -> Path:
    """``$INSEQ_ARTIFACTS_CACHE``, else ``<inseq home>/artifacts`` (``$INSEQ_HOME`` or ``$XDG_CACHE_HOME/inseq``)."""
    explicit = os.environ.get("INSEQ_ARTIFACTS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("INSEQ_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache")), "inseq")
    return Path(home).expanduser() / "artifacts"


@dataclass
class KnnGraph:
    """Nearest neighbours of every vocabulary entry (itself excluded).

    Attributes:
        indices: ``(vocab, k)`` neighbour ids, nearest first.
        weights: ``(vocab, k)`` edge weights: Euclidean distances (``mode="distance"``) or ones (``"connectivity"``).
    """

    indices: np.ndarray
    weights: np.ndarray

    @classmethod
    def build(cls, embeddings: np.ndarray, n_neighbors: int = 50, mode: str = "distance") -> KnnGraph:
        """Compute the graph with scikit-learn's exact (brute force) Euclidean nearest neighbours."""
        from sklearn.neighbors import NearestNeighbors

        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        k = min(int(n_neighbors), embeddings.shape[0] - 1)
        if k < 1:
            raise ValueError(f"n_neighbors must be >= 1 and the vocabulary must hold >= 2 entries, got {n_neighbors}.")
        search = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(embeddings)
        distances, indices = search.kneighbors(embeddings)
        # drop each entry itself (normally first; duplicates of an embedding may come first instead)
        own = indices == np.arange(len(indices))[:, None]
        drop = np.where(own.any(1), own.argmax(1), k)
        keep = np.ones_like(own)
        keep[np.arange(len(indices)), drop] = False
        indices = indices[keep].reshape(-1, k).astype(np.int64)
        distances = distances[keep].reshape(-1, k).astype(np.float32)
        weights = distances if mode == "distance" else np.ones_like(distances)
        return cls(indices=indices, weights=weights)

    def save(self, path: Path) -> None:
        """Write the graph as ``.npz`` atomically (temporary file in the same folder, then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, indices=self.indices, weights=self.weights)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    @classmethod
    def load(cls, path: Path) -> KnnGraph:
        """Read a graph written by :meth:`save` (pickle disabled)."""
        with np.load(path, allow_pickle=False) as data:
            return cls(indices=data["indices"], weights=data["weights"])


def knn_cache_path(model_name: str, vocab_size: int, n_neighbors: int, mode: str, fingerprint: str = "") -> Path:
    """Cache file of a graph: keyed by model name, vocabulary size, ``n_neighbors``, mode and an embedding digest."""
    key = f"{model_name}|{vocab_size}|{n_neighbors}|{mode}|{fingerprint}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(model_name).strip("/").split("/")[-1])
    return artifacts_cache_dir() / "dig_knn" / f"{safe[:48]}-{digest}.npz"


def embedding_fingerprint(embeddings: np.ndarray) -> str:
    """Short digest of (a strided sample of) the embedding matrix, so that retrained models get their own graph."""
    step = max(1, embeddings.shape[0] // 512)
    sample = np.ascontiguousarray(embeddings[::step], dtype=np.float32)
    return hashlib.sha256(sample.tobytes()).hexdigest()[:16]


def load_or_build_knn_graph(
    embeddings: np.ndarray, model_name: str, n_neighbors: int = 50, mode: str = "distance"
) -> tuple[KnnGraph, Path]:
    """The cached graph of a model's vocabulary, built and saved on first use. Returns the graph and its file."""
    path = knn_cache_path(model_name, embeddings.shape[0], n_neighbors, mode, embedding_fingerprint(embeddings))
    if path.exists():
        try:
            graph = KnnGraph.load(path)
            if graph.indices.shape[0] == embeddings.shape[0]:
                return graph, path
        except (OSError, ValueError, KeyError):
            pass  # unreadable (e.g. truncated by a crash before the atomic rename existed): rebuild it
    graph = KnnGraph.build(embeddings, n_neighbors=n_neighbors, mode=mode)
    graph.save(path)
    return graph, path


def _monotonize(anchors: np.ndarray, current: np.ndarray, baseline: np.ndarray, share: float):
    """Project anchors onto the monotonic box between ``current`` and ``baseline``.

    Returns the projections and the ``(n, hidden)`` mask of dimensions already monotonic.
    """
    low, high = np.minimum(current, baseline), np.maximum(current, baseline)
    ok = (anchors >= low) & (anchors <= high)
    step = current - share * (current - baseline)
    return np.where(ok, anchors, step), ok


def build_monotonic_path(
    word_id: int,
    embeddings: np.ndarray,
    baseline: np.ndarray,
    graph: KnnGraph,
    n_points: int,
    strategy: str = "greedy",
) -> np.ndarray:
    """``(n_points, hidden)`` monotonic path from ``baseline`` (first point) to the embedding of ``word_id`` (last).

    The path is built backwards from the word: ``n_points - 2`` anchors are chosen among the graph neighbours of the
    last anchor's word (words already used are skipped): ``"greedy"`` picks the neighbour closest to its
    monotonized projection, ``"maxcount"`` the one with most monotonic dimensions. Non-monotonic dimensions move
    ``1 / remaining_hops`` of the way to the baseline, so the path reaches the baseline after ``n_points - 1`` hops.
    When no unused neighbour is left, the hop is a straight step of the same share.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"method must be one of {STRATEGIES} for discretized integrated gradients, got {strategy!r}.")
    if n_points < 2:
        raise ValueError(f"n_steps must be >= 2 for discretized integrated gradients, got {n_points}.")
    target = embeddings[word_id].astype(np.float64)
    baseline = np.asarray(baseline, dtype=np.float64)
    hops = n_points - 1
    points = [target]
    current, node = target, int(word_id)
    used = {node}
    for t in range(hops - 1):
        share = 1.0 / (hops - t)
        candidates = [int(c) for c in graph.indices[node] if int(c) not in used]
        if not candidates:
            current = current - share * (current - baseline)
            points.append(current)
            continue
        anchors = embeddings[candidates].astype(np.float64)
        projected, ok = _monotonize(anchors, current, baseline, share)
        if strategy == "greedy":
            best = int(np.argmin(np.linalg.norm(anchors - projected, axis=1)))
        else:
            best = int(np.argmax(ok.sum(1)))
        node = candidates[best]
        used.add(node)
        current = projected[best]
        points.append(current)
    points.append(baseline)
    return np.stack(points[::-1])


def path_weights(path: np.ndarray) -> np.ndarray:
    """Trapezoidal weights of each path point: ``(Δ_{k-1} + Δ_k) / 2`` with ``Δ_k = path[k + 1] - path[k]``.

    ``sum_k grad(path[k]) * weights[k]`` is the trapezoidal rule for the path integral of the gradient.

    Example:
        >>> path_weights(np.array([[0.0], [1.0], [3.0]])).ravel().tolist()
        [0.5, 1.5, 1.0]
    """
    deltas = np.diff(path, axis=0)
    weights = np.zeros_like(path)
    weights[:-1] += deltas / 2
    weights[1:] += deltas / 2
    return weights
