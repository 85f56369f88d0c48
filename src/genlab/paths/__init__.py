"""Affine noising paths ``x_t = alpha(t) x + sigma(t) eps`` (t = 0 data, t = 1 prior)."""

from genlab.paths.affine import PATHS, AffinePath, LinearPath, bcast, build_path

__all__ = ["PATHS", "AffinePath", "LinearPath", "bcast", "build_path"]
