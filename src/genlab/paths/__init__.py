"""Affine noising paths ``x_t = alpha(t) x + sigma(t) eps`` (t = 0 data, t = 1 prior),
conversions between prediction kinds, EDM preconditioning and training-time densities."""

from genlab.paths.affine import (
    PATHS,
    AffinePath,
    CosinePath,
    DDPMPath,
    EDMPath,
    LinearPath,
    VPPath,
    bcast,
    build_path,
)
from genlab.paths.convert import KINDS, convert, from_x0_eps, target, to_x0_eps
from genlab.paths.density import DENSITIES, sample_t, shift_t
from genlab.paths.precond import EDMPrecond, edm_coeffs, edm_weight

__all__ = [
    "DENSITIES",
    "KINDS",
    "PATHS",
    "AffinePath",
    "CosinePath",
    "DDPMPath",
    "EDMPath",
    "EDMPrecond",
    "LinearPath",
    "VPPath",
    "bcast",
    "build_path",
    "convert",
    "edm_coeffs",
    "edm_weight",
    "from_x0_eps",
    "sample_t",
    "shift_t",
    "target",
    "to_x0_eps",
]
