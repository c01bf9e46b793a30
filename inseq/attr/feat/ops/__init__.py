"""inseq 0.7 path of the methods' building blocks (temporary re-export)."""

from ..path.monotonic_path import KnnGraph, build_monotonic_path, load_or_build_knn_graph, path_weights

__all__ = ["KnnGraph", "build_monotonic_path", "load_or_build_knn_graph", "path_weights"]
