"""Building blocks of attribution methods that are not tied to the engine (paths, graphs, samplers)."""

from .monotonic_path import KnnGraph, build_monotonic_path, load_or_build_knn_graph, path_weights

__all__ = ["KnnGraph", "build_monotonic_path", "load_or_build_knn_graph", "path_weights"]
