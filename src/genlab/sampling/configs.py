"""Every ``sampler`` section's config dataclass (one per family), importable without torch.

``genlab sample``'s flags and ``sampler.KEY=VALUE`` overrides land here; each validates
its ranges in ``__post_init__`` and raises :class:`~genlab.errors.ConfigError` naming the
key. The families read them when they draw samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from genlab.errors import ConfigError
from genlab.sampling import GRIDS, SAMPLER_INFO


@dataclass
class DiffusionSamplerConfig:
    """How ``genlab sample`` and the training previews draw samples.

    ``cfg`` is the guidance weight w: ``(1 + w) f(y) - w f(null)`` (diffusers' scale is
    ``1 + w``), applied for ``guidance_lo <= t <= guidance_hi``; ``guidance_rescale`` is
    phi of Lin et al. 2024 (``genlab.sampling.guidance``). ``eta`` is DDIM's
    stochasticity; ``churn`` is EDM's ``S_churn`` for ``heun``: each step first raises the
    noise level by the factor ``1 + min(churn / steps, sqrt(2) - 1)`` (Karras et al.
    2022, Alg. 2), so a churn above ``0.414 * steps`` adds nothing more.
    """

    name: str = "euler"
    steps: int = 50
    cfg: float = 0.0
    grid: str = "uniform"  # uniform | karras | shifted
    rho: float = 7.0  # karras grid
    shift: float = 3.0  # shifted grid
    eta: float = 0.0  # ddim
    churn: float = 0.0  # heun
    guidance_lo: float = 0.0
    guidance_hi: float = 1.0
    guidance_rescale: float = 0.0  # phi in [0, 1]; 0.7 in the paper
    negative_prompt: str = ""  # text runs: replaces the empty prompt as guidance's null
    # autoguidance (Karras et al. 2024): a weaker network for the same task (an earlier
    # checkpoint RUN/checkpoints/step_N, or a smaller run), guided against with weight cfg
    # in place of the null condition; works for unconditional runs
    autoguidance: str = ""
    # latent runs: "autoencoder" decodes with objective.autoencoder's decoder (a mel run:
    # its vocoder); "griffin-lim": a mel run's mels by Griffin-Lim instead
    decoder: str = "autoencoder"
    # diffusion forcing runs (objective.diffusion_forcing): the time at which the known
    # frames of a prediction or rollout enter the network (0: clean; Chen et al. 2024
    # keep a little noise on the past for long rollouts)
    context_noise: float = 0.0

    def __post_init__(self):
        if not 0 <= self.context_noise < 1:
            raise ConfigError(f"sampler.context_noise: must be in [0, 1), got {self.context_noise}")
        if self.decoder not in ("autoencoder", "griffin-lim"):
            raise ConfigError(
                f"sampler.decoder: 'autoencoder' or 'griffin-lim', got {self.decoder!r}"
            )
        if self.name not in SAMPLER_INFO:
            raise ConfigError(
                f"sampler.name: unknown sampler {self.name!r}; choose from "
                f"{', '.join(sorted(SAMPLER_INFO))}"
            )
        if self.steps < 1:
            raise ConfigError(f"sampler.steps: must be at least 1, got {self.steps}")
        if self.grid not in GRIDS:
            raise ConfigError(f"sampler.grid: unknown grid {self.grid!r}; choose from {GRIDS}")
        if not 0 <= self.eta <= 1:
            raise ConfigError(f"sampler.eta: must be in [0, 1], got {self.eta}")
        if not (math.isfinite(self.churn) and self.churn >= 0):
            raise ConfigError(f"sampler.churn: must be a finite number >= 0, got {self.churn}")
        if not (math.isfinite(self.cfg) and self.cfg >= 0):
            raise ConfigError(f"sampler.cfg: the guidance weight must be >= 0, got {self.cfg}")
        for k in ("rho", "shift"):
            if not getattr(self, k) > 0:
                raise ConfigError(f"sampler.{k}: must be positive, got {getattr(self, k)}")
        if not 0 <= self.guidance_lo <= self.guidance_hi <= 1:
            raise ConfigError(
                "sampler.guidance_lo/guidance_hi: need 0 <= lo <= hi <= 1, got "
                f"{self.guidance_lo}, {self.guidance_hi}"
            )
        if not 0 <= self.guidance_rescale <= 1:
            raise ConfigError(
                f"sampler.guidance_rescale: phi must be in [0, 1], got {self.guidance_rescale}"
            )
        if self.autoguidance and not self.cfg:
            raise ConfigError(
                "sampler.autoguidance: guides with weight sampler.cfg (--cfg); give it above 0"
            )
        if self.autoguidance and (self.negative_prompt or self.guidance_rescale):
            raise ConfigError(
                "sampler.autoguidance: guides against the weaker network, not a null "
                "condition; it takes no negative prompt or guidance rescale"
            )
        # A setting of another sampler or grid would be silently ignored: refuse it.
        for key, (field, used_by) in self.SPECIFIC.items():
            default = self.__dataclass_fields__[key].default
            if getattr(self, key) != default and not self.applies(key):
                what = "grid" if field == "grid" else "sampler"
                raise ConfigError(
                    f"sampler.{key}: {getattr(self, key)} applies to the {used_by} {what} "
                    f"only, not {what} {getattr(self, field)!r}; drop it or set "
                    f"sampler.{key}={default}"
                )

    # settings that one sampler or grid uses: key -> (the field that chooses, its value)
    SPECIFIC: ClassVar[dict[str, tuple[str, str]]] = {
        "eta": ("name", "ddim"),
        "churn": ("name", "heun"),
        "rho": ("grid", "karras"),
        "shift": ("grid", "shifted"),
    }

    def applies(self, key: str) -> bool:
        """Whether setting ``key`` of :attr:`SPECIFIC` is used by this sampler and grid."""
        field, used_by = self.SPECIFIC[key]
        return getattr(self, field) == used_by

    def drop_unused(self, keep: set[str]) -> None:
        """Reset to its default every :attr:`SPECIFIC` setting the chosen sampler and grid
        do not use, except those named in ``keep`` (given by the user: checked, not
        dropped). For a run sampled with another sampler or grid than it was stored with."""
        for key in self.SPECIFIC:
            if key not in keep and not self.applies(key):
                setattr(self, key, self.__dataclass_fields__[key].default)


@dataclass
class GanSamplerConfig:
    truncation: float = 1.0  # StyleGAN truncation psi: w_avg + psi (w - w_avg)

    def __post_init__(self):
        if not 0 <= self.truncation <= 1:
            raise ConfigError(f"sampler.truncation: must be in [0, 1], got {self.truncation}")


@dataclass
class TranslateSamplerConfig:
    # CycleGAN: "a2b" translates domain A images to B, "b2a" back (Pix2Pix: "a2b" only)
    direction: Literal["a2b", "b2a"] = "a2b"
    # return the held-out sources instead of their translations (inputs for genlab edit)
    sources: bool = False

    def __post_init__(self):
        if self.direction not in ("a2b", "b2a"):
            raise ConfigError(f"sampler.direction: expected 'a2b' or 'b2a', got {self.direction!r}")


@dataclass
class VocoderSamplerConfig:
    """A vocoder run "samples" by resynthesising held-out clips from their mel
    spectrograms (``genlab.families.vocoder``)."""

    # return the held-out originals instead of their resynthesis (for comparison)
    originals: bool = False


@dataclass
class CodecSamplerConfig:
    """A codec run "samples" by encoding and decoding held-out clips
    (``genlab.families.codec``) with its first ``codebooks`` codebooks (0: all; fewer
    codebooks, lower bitrate)."""

    codebooks: int = 0
    originals: bool = False  # return the held-out originals instead (for comparison)

    def __post_init__(self):
        if self.codebooks < 0:
            raise ConfigError(f"sampler.codebooks: must be >= 0 (0: all), got {self.codebooks}")


@dataclass
class VAESamplerConfig:
    temperature: float = 1.0  # std of the prior draw z ~ N(0, temperature^2 I)

    def __post_init__(self):
        if self.temperature < 0:
            raise ConfigError(f"sampler.temperature: must be >= 0, got {self.temperature}")


@dataclass
class VQSamplerConfig:
    """A tokenizer has no prior of its own: ``sample`` decodes tokens drawn i.i.d. from
    the codebook's usage frequencies (a unigram prior), a baseline for the token models."""

    temperature: float = 1.0

    def __post_init__(self):
        if not self.temperature >= 0:
            raise ConfigError(f"sampler.temperature: must be >= 0, got {self.temperature}")


@dataclass
class TokenSamplerConfig:
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    top_p: float = 1.0  # 1: no nucleus filter
    cfg: float = 0.0  # guidance weight on logits
    use_cache: bool = True  # KV cache (ar only)

    def __post_init__(self):
        if self.cfg < 0:
            raise ConfigError(f"sampler.cfg: the guidance weight must be >= 0, got {self.cfg}")
        if self.temperature < 0 or self.top_k < 0 or not 0 < self.top_p <= 1:
            raise ConfigError(
                "sampler: need temperature >= 0, top_k >= 0 and 0 < top_p <= 1, got "
                f"{self.temperature}, {self.top_k}, {self.top_p}"
            )


@dataclass
class ClassifierEvalConfig:
    """The ``sampler`` section of a classifier run: how it is applied at evaluation."""

    batch_size: int = 500

    def __post_init__(self):
        if self.batch_size < 1:
            raise ConfigError(f"sampler.batch_size: must be at least 1, got {self.batch_size}")
