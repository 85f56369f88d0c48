"""Time grids and samplers as pure functions over a model callable.

``SAMPLER_INFO`` names every sampler with the module that defines it and one line for
``genlab list``; ``GRIDS`` names the time grids; ``STOCHASTIC`` names the samplers that
draw noise per step. These need no torch, so config checks and ``genlab list`` stay fast.
Every function (``euler``, ``dpmpp_2m``, ``make_grid``, ``cfg``, ...) and ``SAMPLERS``
(name -> sampler, the shared signature of :mod:`genlab.sampling.ode`) are imported from
their module on first access (PEP 562), so ``from genlab.sampling import euler`` works.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> (module, one line). Order: deterministic ODE solvers, then stochastic ones.
SAMPLER_INFO: dict[str, tuple[str, str]] = {
    "euler": ("ode", "Euler in the EDM variables sigma/alpha; 1 evaluation per step"),
    "heun": ("ode", "Heun's 2nd-order method (EDM Alg. 2), optional churn; 2 evaluations"),
    "midpoint": ("ode", "explicit midpoint, 2nd order in sigma/alpha; 2 evaluations per step"),
    "dpmpp_2m": ("ode", "DPM-Solver++(2M), multistep 2nd order in x0; 1 evaluation per step"),
    "ddim": ("sde", "DDIM with stochasticity eta in [0, 1]; 1 evaluation per step"),
    "ddpm": ("sde", "ancestral sampling from q(x_t' | x_t, x0_hat); 1 evaluation per step"),
    "euler_maruyama": ("sde", "Euler-Maruyama on the reverse SDE; strong order 1/2"),
    "consistency": ("sde", "multistep consistency sampling, for consistency models; 1 per step"),
}
GRIDS = ("uniform", "karras", "shifted")
# plus ddim with eta > 0 and heun with churn > 0
STOCHASTIC = ("ddpm", "euler_maruyama", "consistency")

# Functions re-exported here, by defining module; imported on first access.
_LAZY = {
    "grids": ("karras_grid", "make_grid", "shifted_grid", "uniform_grid"),
    "guidance": ("cfg",),
    "ode": (
        "churn_step",
        "denoise",
        "dpmpp_2m",
        "dpmpp_2m_step",
        "euler",
        "euler_step",
        "heun",
        "heun_step",
        "midpoint",
        "midpoint_step",
        "noise_like",
        "ve_coords",
        "velocity",
    ),
    "sde": ("consistency", "ddim", "ddim_step", "ddpm", "euler_maruyama", "euler_maruyama_step"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    if name == "SAMPLERS":
        value: Any = {k: __getattr__(k) for k in SAMPLER_INFO}
    elif name in _HOME:
        value = getattr(importlib.import_module(f"genlab.sampling.{_HOME[name]}"), name)
    else:
        raise AttributeError(f"module 'genlab.sampling' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), "SAMPLERS", *_HOME])


__all__ = ["GRIDS", "SAMPLERS", "SAMPLER_INFO", "STOCHASTIC", *sorted(_HOME)]
