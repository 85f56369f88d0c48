"""Networks by name. ``MODELS`` maps an architecture tag (``model.arch``) to its spec;
``PRESETS`` maps a preset name to a ready config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from genlab.errors import ConfigError
from genlab.models import dit, mlp, unet


@dataclass(frozen=True)
class ModelSpec:
    config: type
    build: Callable[[Any], nn.Module]
    doc: str


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(mlp.MLPConfig, mlp.MLP, "residual MLP for (B, D) points"),
    "unet": ModelSpec(
        unet.UNetConfig, unet.UNet, "U-Net with residual blocks and attention, 1/2/3-D"
    ),
    "dit": ModelSpec(dit.DiTConfig, dit.DiT, "diffusion transformer, adaLN-Zero, 1/2/3-D patches"),
}

PRESETS: dict[str, Any] = {**mlp.PRESETS, **unet.PRESETS, **dit.PRESETS}


def model_config(arch: str) -> type:
    if arch not in MODELS:
        raise ConfigError(
            f"model.arch: unknown architecture {arch!r}; choose from {', '.join(sorted(MODELS))}"
        )
    return MODELS[arch].config


def preset(name: str, **changes) -> Any:
    """A copy of preset ``name`` with fields changed: ``preset("unet-small", num_classes=10)``."""
    if name not in PRESETS:
        raise ConfigError(
            f"unknown model preset {name!r}; choose from {', '.join(sorted(PRESETS))}"
        )
    return dataclasses.replace(PRESETS[name], **changes)


def build_model(cfg: Any) -> nn.Module:
    return MODELS[cfg.arch].build(cfg)
