"""Families by name, and the objective kinds each one trains.

``FAMILIES`` maps a family name to its :class:`~genlab.families.base.Family`;
``family_of(kind)`` finds the family of an ``objective.kind``. A new family is one file
here with a ``FAMILY`` record, added to ``FAMILIES``.
"""

from __future__ import annotations

from genlab.errors import ConfigError
from genlab.families import classifier, diffusion, gan, tokens, vae
from genlab.families.base import Family

FAMILIES: dict[str, Family] = {
    f.name: f for f in (diffusion.FAMILY, gan.FAMILY, vae.FAMILY, tokens.FAMILY, classifier.FAMILY)
}
KINDS: dict[str, Family] = {kind: f for f in FAMILIES.values() for kind in f.objectives}


def family_of(kind: str) -> Family:
    """The family that trains ``objective.kind == kind``; a clear error if none does."""
    if kind not in KINDS:
        raise ConfigError(
            f"objective.kind: unknown objective {kind!r}; choose from {', '.join(sorted(KINDS))}"
        )
    return KINDS[kind]


def kind_types(kind: str) -> tuple[type, type]:
    """The objective and sampler config dataclasses of ``objective.kind``."""
    f = family_of(kind)
    return f.objectives[kind], f.samplers[kind]


__all__ = ["FAMILIES", "KINDS", "Family", "family_of", "kind_types"]
