"""Conversions between prediction kinds on any affine path, for any tensor rank.

Given ``x_t = a x0 + s eps`` (``a = alpha(t), s = sigma(t)``, derivatives ``da, ds``), every
prediction kind is a linear function of ``(x0, eps)``:

=========== ======================================= ===================================
kind        definition                              back to (x0, eps)
=========== ======================================= ===================================
``x0``      ``x0``                                  ``eps = (x_t - a x0) / s``
``eps``     ``eps``                                 ``x0 = (x_t - s eps) / a``
``v``       ``a eps - s x0`` (Salimans & Ho 2022)   ``x0 = (a x_t - s v) / (a^2 + s^2)``,
                                                    ``eps = (s x_t + a v) / (a^2 + s^2)``
``velocity`` ``dx_t/dt = da x0 + ds eps``           ``x0 = (ds x_t - s u) / det``,
                                                    ``eps = (a u - da x_t) / det``,
                                                    ``det = a ds - s da``
``score``   ``grad log p_t(x_t) = -eps / s``        ``eps = -s score``
=========== ======================================= ===================================

:func:`target` is the training target of a kind. All coefficients are float64 at ``t``
and cast to ``x_t``'s dtype. Because each map is affine in the prediction (for fixed
``x_t, t``), a guidance combination with weights that sum to one (``(1 + w) c - w u``)
gives the same result in every kind.
"""

from __future__ import annotations

from torch import Tensor

from genlab.errors import ConfigError
from genlab.paths.affine import AffinePath

KINDS = ("eps", "x0", "v", "velocity", "score")


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(
            f"objective.target: unknown prediction kind {kind!r}; choose from {KINDS}"
        )


def to_x0_eps(path: AffinePath, kind: str, pred: Tensor, x_t: Tensor, t: Tensor):
    """``(x0, eps)`` implied by a prediction of ``kind`` at ``(x_t, t)``; shapes ``(B, *S)``."""
    _check(kind)
    a, s, da, ds = path.coeffs(t, x_t)
    if kind == "x0":
        return pred, (x_t - a * pred) / s
    if kind == "eps":
        return (x_t - s * pred) / a, pred
    if kind == "score":
        eps = -s * pred
        return (x_t - s * eps) / a, eps
    if kind == "v":
        n = a * a + s * s
        return (a * x_t - s * pred) / n, (s * x_t + a * pred) / n
    det = a * ds - s * da  # velocity
    return (ds * x_t - s * pred) / det, (a * pred - da * x_t) / det


def from_x0_eps(path: AffinePath, kind: str, x0: Tensor, eps: Tensor, x_t: Tensor, t: Tensor):
    """The prediction of ``kind`` for given ``(x0, eps)`` at ``(x_t, t)``."""
    _check(kind)
    a, s, da, ds = path.coeffs(t, x_t)
    if kind == "x0":
        return x0
    if kind == "eps":
        return eps
    if kind == "score":
        return -eps / s
    if kind == "v":
        return a * eps - s * x0
    return da * x0 + ds * eps


def target(path: AffinePath, kind: str, x: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """The regression target of prediction ``kind`` for data ``x`` and noise ``eps``
    ``(B, *S)`` at ``t (B,)``, on ``x_t = path.sample(x, eps, t)``.

    Raises:
        ConfigError: ``kind`` is not one of :data:`KINDS`.
    """
    return from_x0_eps(path, kind, x, eps, path.sample(x, eps, t), t)


def convert(path: AffinePath, pred: Tensor, src: str, dst: str, x_t: Tensor, t: Tensor) -> Tensor:
    """Re-express a prediction of kind ``src`` as kind ``dst``."""
    if src == dst:
        _check(src)
        return pred
    x0, eps = to_x0_eps(path, src, pred, x_t, t)
    return from_x0_eps(path, dst, x0, eps, x_t, t)
