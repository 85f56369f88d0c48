"""Families by name, and the objective kinds each one trains.

``KINDS`` maps an ``objective.kind`` to its :class:`Kind`: the family that trains it and
the config dataclasses of its ``objective`` and ``sampler`` sections. It needs no torch
(config parsing, ``genlab list`` and ``--dry-run`` read it alone). :func:`family_of`
imports the family's module (``genlab.families.<family>``) on first use and returns its
:class:`~genlab.families.base.Family` record. A new family is one file here with a
``FAMILY`` record, and its kinds added to ``KINDS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genlab.errors import ConfigError
from genlab.objectives import configs as O
from genlab.sampling import configs as S

if TYPE_CHECKING:
    from genlab.families.base import Family


@dataclass(frozen=True)
class Kind:
    """One ``objective.kind``: its family (a module of ``genlab.families``), and the
    dataclasses of the ``objective`` and ``sampler`` sections of its configs."""

    family: str
    objective: type
    sampler: type


KINDS: dict[str, Kind] = {
    "denoise": Kind("diffusion", O.DenoiseConfig, S.DiffusionSamplerConfig),
    "gan": Kind("gan", O.GanConfig, S.GanSamplerConfig),
    "elbo": Kind("vae", O.ELBOConfig, S.VAESamplerConfig),
    "klae": Kind("vae", O.KLAEConfig, S.VAESamplerConfig),
    "vq": Kind("vae", O.VQLossConfig, S.VQSamplerConfig),
    "ar": Kind("tokens", O.TokenObjective, S.TokenSamplerConfig),
    "var": Kind("tokens", O.VARObjective, S.TokenSamplerConfig),
    "mulaw": Kind("wavenet", O.MuLawConfig, S.TokenSamplerConfig),
    "hifigan": Kind("vocoder", O.HiFiGANObjective, S.VocoderSamplerConfig),
    "codec": Kind("codec", O.CodecObjective, S.CodecSamplerConfig),
    "codec_lm": Kind("codec_lm", O.CodecLMObjective, S.TokenSamplerConfig),
    "classify": Kind("classifier", O.ClassifyConfig, S.ClassifierEvalConfig),
    "contrastive": Kind("contrastive", O.ContrastiveConfig, S.ClassifierEvalConfig),
    "reflow": Kind("distill", O.ReflowConfig, S.DiffusionSamplerConfig),
    "progressive": Kind("distill", O.ProgressiveConfig, S.DiffusionSamplerConfig),
    "consistency": Kind("distill", O.ConsistencyConfig, S.DiffusionSamplerConfig),
    "adversarial": Kind("distill", O.AdversarialConfig, S.DiffusionSamplerConfig),
    "pix2pix": Kind("translate", O.Pix2PixConfig, S.TranslateSamplerConfig),
    "cyclegan": Kind("translate", O.CycleGANConfig, S.TranslateSamplerConfig),
}
FAMILY_NAMES = tuple(dict.fromkeys(k.family for k in KINDS.values()))


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise ConfigError(
            f"objective.kind: unknown objective {kind!r}; choose from {', '.join(sorted(KINDS))}"
        )
    return KINDS[kind]


def family_name(kind: str) -> str:
    """The name of the family that trains ``objective.kind == kind`` (no torch import)."""
    return _kind(kind).family


def kind_types(kind: str) -> tuple[type, type]:
    """The objective and sampler config dataclasses of ``objective.kind``."""
    k = _kind(kind)
    return k.objective, k.sampler


def get_family(name: str) -> Family:
    """The :class:`Family` record of family ``name`` (imports its module)."""
    if name not in FAMILY_NAMES:
        raise ConfigError(f"unknown family {name!r}; choose from {', '.join(FAMILY_NAMES)}")
    return importlib.import_module(f"genlab.families.{name}").FAMILY


def family_of(kind: str) -> Family:
    """The family that trains ``objective.kind == kind``; a clear error if none does."""
    return get_family(family_name(kind))


__all__ = [
    "FAMILY_NAMES",
    "KINDS",
    "Kind",
    "family_name",
    "family_of",
    "get_family",
    "kind_types",
]
