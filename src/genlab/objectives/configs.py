"""Every ``objective`` section's config dataclass, importable without torch.

Config parsing, ``genlab list`` and ``--dry-run`` read these alone; the losses
(:mod:`genlab.objectives.denoise`, :mod:`~genlab.objectives.vae`,
:mod:`~genlab.objectives.gan`) and the families import them from here. Each validates in
``__post_init__`` and raises :class:`~genlab.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.errors import ConfigError
from genlab.sampling import SAMPLER_INFO, STOCHASTIC

# ---------------------------------------- diffusion / flow matching (genlab.objectives.denoise)


# Paths with alpha(1) = 0 (pure noise at t = 1); tests/objectives/test_denoise.py checks
# this against genlab.paths for every path.
ALPHA_ZERO_AT_1 = ("linear",)
WEIGHTINGS = ("none", "edm", "min_snr")


@dataclass
class DenoiseConfig:
    kind: Literal["denoise"] = "denoise"
    path: Literal["linear", "vp", "ddpm", "cosine", "edm"] = "linear"
    target: Literal["velocity", "eps", "x0", "v"] = "velocity"
    precond: Literal["none", "edm"] = "none"  # EDM wrapper (then target must be x0)
    sigma_data: float = 0.5  # EDM preconditioning / weighting
    weighting: Literal["none", "edm", "min_snr"] = "none"
    min_snr_gamma: float = 5.0  # Hang et al. 2023, for eps / x0 / v targets
    t_density: Literal["uniform", "logit_normal", "lognormal"] = "uniform"
    t_loc: float = 0.0  # logit-normal m, or EDM P_mean
    t_scale: float = 1.0  # logit-normal s, or EDM P_std
    t_shift: float = 1.0  # SD3 resolution shift (1: none)
    t_steps: int = 0  # > 0: discrete times {1/N, ..., 1} (DDPM: 1000)
    cond_drop: float = 0.1
    # latent diffusion (Rombach et al. 2022): a trained autoencoder run (klae-shapes, ...)
    # whose normalised latents encode((x)) the network denoises; samples are decoded
    autoencoder: str = ""
    # video inpainting networks (model.inpaint on (B, C, T, H, W) data): how many leading
    # frames the training masks keep known (frame prediction); 0: a random number per clip
    context_frames: int = 0
    # inpainting networks (model.inpaint): average the loss over the values to generate
    # (mask 1) only, not the known ones the condition already holds
    masked_loss: bool = False
    # video DiTs: one noise level per frame (per temporal patch) in training (Chen et al.
    # 2024, Diffusion Forcing), so a past given clean at sampling time conditions the rest
    diffusion_forcing: bool = False

    def __post_init__(self):
        if self.diffusion_forcing and (self.masked_loss or self.context_frames):
            raise ConfigError(
                "objective.diffusion_forcing: the known frames are given by their time, not "
                "by inpainting masks; leave masked_loss and context_frames unset"
            )
        if self.context_frames < 0:
            raise ConfigError(f"objective.context_frames: must be >= 0, got {self.context_frames}")
        if not 0 <= self.cond_drop <= 1:
            raise ConfigError(f"objective.cond_drop: must be in [0, 1], got {self.cond_drop}")
        if self.precond == "edm" and self.target != "x0":
            raise ConfigError(
                f"objective.target: precond=edm predicts x0, got target={self.target!r}"
            )
        if self.t_shift <= 0 or self.t_scale <= 0 or self.sigma_data <= 0:
            raise ConfigError("objective: t_shift, t_scale and sigma_data must be positive")
        if self.t_steps < 0:
            raise ConfigError(f"objective.t_steps: must be >= 0, got {self.t_steps}")
        if self.min_snr_gamma <= 0:
            raise ConfigError(
                f"objective.min_snr_gamma: must be positive, got {self.min_snr_gamma}"
            )
        check_combination(self.path, self.target, self.weighting, self.precond)


# weighting -> the targets its formula is defined for
WEIGHTING_TARGETS = {"none": None, "edm": ("x0",), "min_snr": ("eps", "x0", "v")}


def check_combination(path: str, target: str, weighting: str, precond: str = "none") -> None:
    """Refuse a path / target / weighting / preconditioning combination that cannot give
    finite numbers or has no defined formula, naming the key and why (:class:`ConfigError`).

    - ``eps`` on a path with ``alpha(1) = 0`` (``linear``): at ``t = 1`` the sample is pure
      noise, so ``x0 = (x - sigma eps) / alpha`` divides by zero and every sampler (which
      starts at ``t = 1``) returns NaN.
    - EDM preconditioning on such a path: its ``c_noise = log(sigma / alpha) / 4`` is
      infinite at ``t = 1``, so sampling gives NaN.
    - ``edm`` weighting is EDM's ``lambda(sigma)`` for the denoiser (``x0``) loss;
      ``min_snr`` is Hang et al. 2023's weight for ``eps``, ``x0`` and ``v`` targets.
    """
    if target == "eps" and path in ALPHA_ZERO_AT_1:
        raise ConfigError(
            f"objective.target: 'eps' on path '{path}' cannot give a finite sample: "
            "alpha(1) = 0, so x0 = (x - sigma eps) / alpha is 0/0 at t = 1; use "
            "target=velocity, x0 or v, or a path with alpha(1) > 0 (vp, ddpm, cosine, edm)"
        )
    if precond == "edm" and path in ALPHA_ZERO_AT_1:
        raise ConfigError(
            f"objective.precond: EDM preconditioning takes log(sigma / alpha), infinite at "
            f"t = 1 on path '{path}', so sampling would give NaN; use objective.path=edm "
            "(or vp, ddpm, cosine)"
        )
    allowed = WEIGHTING_TARGETS.get(weighting)
    if allowed is not None and target not in allowed:
        raise ConfigError(
            f"objective.weighting: '{weighting}' is defined for target "
            f"{' / '.join(allowed)}, not {target!r}"
        )


# ---------------------------------------- autoencoders (genlab.objectives.vae, genlab.families.vae)


@dataclass
class ELBOConfig:
    kind: Literal["elbo"] = "elbo"
    beta: float = 1.0  # weight of the KL term (beta-VAE when != 1)
    warmup_samples: int = 0  # KL weight ramps 0 -> beta over this many training samples
    binarize: bool = False  # dynamic binarisation: x01 ~ Bernoulli((x + 1) / 2) per draw

    def __post_init__(self):
        if self.beta < 0:
            raise ConfigError(f"objective.beta: must be >= 0, got {self.beta}")
        if self.warmup_samples < 0:
            raise ConfigError(f"objective.warmup_samples: must be >= 0, got {self.warmup_samples}")


@dataclass
class VQLossConfig:
    kind: Literal["vq"] = "vq"
    commitment: float = 0.25  # beta of van den Oord et al. 2017
    recon: Literal["mse", "l1"] = "mse"
    disc_weight: float = 0.0  # weight of the patch discriminator's hinge G loss (0: none)
    disc_start: int = 0  # optimizer step at which the adversarial term switches on
    disc_channels: int = 32

    def __post_init__(self):
        if self.commitment < 0:
            raise ConfigError(f"objective.commitment: must be >= 0, got {self.commitment}")


@dataclass
class KLAEConfig(ELBOConfig):
    """The ELBO with a small KL weight (the reconstruction dominates)."""

    kind: Literal["klae"] = "klae"  # type: ignore[assignment]
    beta: float = 1e-3
    disc_weight: float = 0.0  # weight of the patch discriminator's hinge G loss (0: none)
    disc_start: int = 0  # optimizer step at which the adversarial term switches on
    disc_channels: int = 32


# ---------------------------------------- GANs (genlab.objectives.gan, genlab.families.gan)


@dataclass
class GanConfig:
    """The two-player game. ``d_lr`` / ``g_lr`` differ for TTUR (Heusel et al. 2017)."""

    kind: Literal["gan"] = "gan"
    loss: Literal["minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"] = "ns"
    n_critic: int = 1  # D steps per G step
    d_lr: float = 2e-4
    g_lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam, as in DCGAN
    gp_weight: float = 0.0  # lambda of the gradient penalty (10 for WGAN-GP)
    r1_gamma: float = 0.0  # R1 weight gamma (loss += gamma / 2 * R1)
    r1_every: int = 16  # lazy R1: every k D steps, scaled by k
    clip: float = 0.01  # WGAN weight clipping (loss "wgan" only)
    spectral_norm: bool = False  # spectral normalisation of D's layers
    pack: int = 1  # PacGAN: D sees `pack` samples at once
    # instance noise (Sønderby et al. 2016): N(0, sigma^2) added to every D input, real
    # and fake; sigma decays linearly from `instance_noise` to 0 over the first
    # `instance_noise_steps` steps (0: the whole run)
    instance_noise: float = 0.0
    instance_noise_steps: int = 0

    def __post_init__(self):
        for k in ("n_critic", "r1_every", "pack"):
            if getattr(self, k) < 1:
                raise ConfigError(f"objective.{k}: must be at least 1, got {getattr(self, k)}")
        for k in ("d_lr", "g_lr"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"objective.{k}: must be positive, got {getattr(self, k)}")
        for k in ("gp_weight", "r1_gamma", "clip", "instance_noise", "instance_noise_steps"):
            if getattr(self, k) < 0:
                raise ConfigError(f"objective.{k}: must be >= 0, got {getattr(self, k)}")
        if self.loss == "wgan-gp" and self.gp_weight == 0:
            raise ConfigError("objective.gp_weight: loss 'wgan-gp' needs a positive weight")


# ---------------------------------------- image-to-image (genlab.families.translate)

TRANSLATE_SOURCES = ("edges", "thicken", "break")  # genlab.data.pairs.SOURCES


@dataclass
class Pix2PixConfig:
    """Paired translation (Isola et al. 2017): a conditional GAN on (source, target)
    pairs plus ``l1_weight`` x L1 to the target. ``source`` names how a target image's
    source is made (``genlab.data.pairs``); ``break`` is redrawn every step."""

    kind: Literal["pix2pix"] = "pix2pix"
    source: Literal["edges", "thicken", "break"] = "edges"
    loss: Literal["ns", "lsgan", "hinge"] = "ns"
    l1_weight: float = 100.0
    d_lr: float = 2e-4
    g_lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1

    def __post_init__(self):
        if self.source not in TRANSLATE_SOURCES:
            raise ConfigError(
                f"objective.source: unknown source {self.source!r}; choose from "
                f"{', '.join(TRANSLATE_SOURCES)}"
            )
        _check_translate(self, ("l1_weight",))


@dataclass
class CycleGANConfig:
    """Unpaired translation (Zhu et al. 2017) between the images of class ``domain_a``
    (A) and class ``domain_b`` (B) of one dataset: two generators, two discriminators,
    ``cycle_weight`` x the cycle loss, ``identity_weight`` x ``cycle_weight`` x the
    identity loss (both L1 as in the paper, or squared error: ``reconstruction``),
    discriminators trained on a pool of ``pool_size`` past fakes."""

    kind: Literal["cyclegan"] = "cyclegan"
    domain_a: int = 0
    domain_b: int = 1
    loss: Literal["ns", "lsgan", "hinge"] = "lsgan"
    cycle_weight: float = 10.0
    identity_weight: float = 0.5  # a fraction of cycle_weight, as the paper's 0.5
    # the cycle and identity terms' distance: the paper's L1, or the squared error, whose
    # gradient fades as a pixel nears its target instead of staying at full size
    reconstruction: Literal["l1", "l2"] = "l1"
    pool_size: int = 50
    d_lr: float = 2e-4
    g_lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1

    def __post_init__(self):
        _check_translate(self, ("cycle_weight", "identity_weight", "pool_size"))
        if self.domain_a == self.domain_b or min(self.domain_a, self.domain_b) < 0:
            raise ConfigError(
                f"objective.domain_b: the two domains must be different class labels >= 0, "
                f"got domain_a={self.domain_a}, domain_b={self.domain_b}"
            )


def _check_translate(cfg, non_negative: tuple[str, ...]) -> None:
    for k in ("d_lr", "g_lr"):
        if getattr(cfg, k) <= 0:
            raise ConfigError(f"objective.{k}: must be positive, got {getattr(cfg, k)}")
    for k in non_negative:
        if getattr(cfg, k) < 0:
            raise ConfigError(f"objective.{k}: must be >= 0, got {getattr(cfg, k)}")
    if cfg.n_critic < 1:
        raise ConfigError(f"objective.n_critic: must be at least 1, got {cfg.n_critic}")


# ---------------------------------------- token models (genlab.families.tokens)


@dataclass
class TokenObjective:
    kind: Literal["ar"] = "ar"
    tokenizer: str = "runs/vqvae-mnist"  # a trained VQ-VAE run directory
    cond_drop: float = 0.1  # class -> null with this probability (for guidance)

    def __post_init__(self):
        if not 0 <= self.cond_drop <= 1:
            raise ConfigError(f"objective.cond_drop: must be in [0, 1], got {self.cond_drop}")


@dataclass
class VARObjective(TokenObjective):
    kind: Literal["var"] = "var"  # type: ignore[assignment]
    tokenizer: str = "runs/msvq-mnist"  # a trained multi-scale VQ run directory


# ---------------------------------------- few-step students (genlab.families.distill)

DISTILL_TEACHER_KINDS = ("denoise", "reflow", "progressive")  # ODE denoisers


@dataclass
class DistillConfig:
    """What every distillation objective shares: the frozen teacher run and the
    parametrisation the student inherits from it (``path``, ``target``, ``precond``,
    ``sigma_data`` must equal the teacher's; they are stored here so a student's
    ``config.yaml`` says alone how to sample it). The student starts from the teacher's
    weights, so its ``model`` section must equal the teacher's too (the pairs objectives
    may instead start a network of their own: ``init=scratch``)."""

    kind: Literal["reflow"] = "reflow"
    teacher: str = "runs/rf-mnist"  # a trained diffusion, reflow or progressive run
    teacher_weights: Literal["ema", "model"] = "ema"
    teacher_cfg: float = 1.0  # CFG weight of a diffusion teacher's targets (0 for a student)
    path: Literal["linear", "vp", "ddpm", "cosine", "edm"] = "linear"
    target: Literal["velocity", "eps", "x0", "v"] = "velocity"
    precond: Literal["none", "edm"] = "none"
    sigma_data: float = 0.5

    def __post_init__(self):
        if not self.teacher_cfg >= 0:
            raise ConfigError(f"objective.teacher_cfg: must be >= 0, got {self.teacher_cfg}")
        if not self.teacher:
            raise ConfigError("objective.teacher: empty; name the teacher's run directory")
        check_combination(self.path, self.target, "none", self.precond)


@dataclass
class PairsConfig(DistillConfig):
    """Objectives trained on (noise, teacher sample) pairs: ``pairs`` pairs of seeds
    ``pair_seed .. pair_seed + pairs - 1`` drawn once with the teacher's ODE
    (``pair_sampler``, ``pair_steps``) and kept in ``RUN/pairs.safetensors``, or read from
    ``pairs_file`` (an ``.npz`` with ``x`` and ``seed`` (and ``class``) as
    ``benchmarks/sampler_defaults.py --save-ref`` writes)."""

    pairs: int = 4096
    # "teacher": the student is the teacher's network, started from its weights; "scratch":
    # the student's own `model` (any image network, or a DCGAN generator for the
    # adversarial student), freshly initialised; it must read the teacher's noise shape
    init: Literal["teacher", "scratch"] = "teacher"
    pair_seed: int = 1_000_000  # far from the seeds `genlab sample` and the metrics use
    pair_sampler: str = "dpmpp_2m"
    pair_steps: int = 20
    pairs_file: str = ""

    def __post_init__(self):
        super().__post_init__()
        if self.pair_sampler not in SAMPLER_INFO or self.pair_sampler in STOCHASTIC:
            raise ConfigError(
                f"objective.pair_sampler: {self.pair_sampler!r} is not one of the teacher's "
                "ODE samplers (euler, heun, midpoint, dpmpp_2m, ddim); pairs must be "
                "deterministic"
            )
        if self.pairs < 1 or self.pair_steps < 1:
            raise ConfigError(
                f"objective.pairs / pair_steps: must be at least 1, got {self.pairs}, "
                f"{self.pair_steps}"
            )


@dataclass
class ReflowConfig(PairsConfig):
    """Rectified flow on the teacher's coupling (Liu et al. 2022, "Flow straight and
    fast", Alg. 1). ``student_steps=0``: reflow (t uniform on [0, 1]); ``k > 0``: k-step
    distillation of a (straightened) flow, t drawn from ``{1/k, ..., 1}``."""

    kind: Literal["reflow"] = "reflow"
    student_steps: int = 0

    def __post_init__(self):
        super().__post_init__()
        if self.path != "linear":
            raise ConfigError(
                f"objective.path: reflow trains on the linear path, got {self.path!r}"
            )
        if self.student_steps < 0:
            raise ConfigError(f"objective.student_steps: must be >= 0, got {self.student_steps}")


@dataclass
class ProgressiveConfig(DistillConfig):
    """One round of progressive distillation (Salimans & Ho 2022, Alg. 2): the student
    takes ``student_steps`` DDIM steps where the teacher took twice as many, on the
    ``grid`` (``genlab.sampling.GRIDS``). Rounds chain: the next round's teacher is this run."""

    kind: Literal["progressive"] = "progressive"  # type: ignore[assignment]
    student_steps: int = 16
    grid: str = "uniform"

    def __post_init__(self):
        super().__post_init__()
        if self.student_steps < 1:
            raise ConfigError(f"objective.student_steps: must be >= 1, got {self.student_steps}")
        if self.grid not in ("uniform", "karras", "shifted"):
            raise ConfigError(f"objective.grid: unknown grid {self.grid!r}")


@dataclass
class ConsistencyConfig(DistillConfig):
    """Consistency distillation (Song et al. 2023, Alg. 2) with the cheap improvements of
    Song & Dhariwal 2023 ("improved techniques"): the target network is the student
    itself without gradient (no EMA), the pseudo-Huber loss with ``c = huber_c`` (0:
    ``0.00054 sqrt(d)``), and the discretisation curriculum ``N(k) = min(s0 2^floor(k /
    K'), s1)`` intervals with ``s0 = steps_start``, ``s1 = steps_end``."""

    kind: Literal["consistency"] = "consistency"  # type: ignore[assignment]
    loss: Literal["pseudo_huber", "l2"] = "pseudo_huber"
    huber_c: float = 0.0
    steps_start: int = 10
    steps_end: int = 160
    grid: str = "uniform"

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.steps_start <= self.steps_end:
            raise ConfigError(
                "objective.steps_start / steps_end: need 1 <= start <= end, got "
                f"{self.steps_start}, {self.steps_end}"
            )
        if self.huber_c < 0:
            raise ConfigError(f"objective.huber_c: must be >= 0, got {self.huber_c}")
        if self.target == "x0" and self.precond != "edm":
            raise ConfigError(
                "objective.target: a raw x0 network is not the identity at t = 0, so the "
                "consistency boundary condition fails; use velocity, eps or v, or "
                "precond=edm (its c_skip(0) = 1, c_out(0) = 0)"
            )
        if self.grid not in ("uniform", "karras", "shifted"):
            raise ConfigError(f"objective.grid: unknown grid {self.grid!r}")


@dataclass
class AdversarialConfig(PairsConfig):
    """A one-step generator ``G(z, y) = x0_theta(z, t=1, y)`` initialised from the teacher
    (or a network of its own, ``init=scratch``, such as a DCGAN generator), trained
    against a DCGAN discriminator on the teacher's samples (``gan_loss`` of
    ``genlab.objectives.gan``, R1 with ``r1_gamma``) plus ``reg_weight`` times the
    squared error to the teacher's sample from the same noise (the seed's "distil into a
    GAN")."""

    kind: Literal["adversarial"] = "adversarial"  # type: ignore[assignment]
    gan_loss: Literal["ns", "hinge", "lsgan"] = "ns"
    reg_weight: float = 1.0
    r1_gamma: float = 0.1
    d_lr: float = 2e-4
    g_lr: float = 2e-5
    betas: tuple[float, float] = (0.0, 0.99)
    disc_channels: int = 32

    def __post_init__(self):
        super().__post_init__()
        for k in ("reg_weight", "r1_gamma"):
            if getattr(self, k) < 0:
                raise ConfigError(f"objective.{k}: must be >= 0, got {getattr(self, k)}")
        for k in ("d_lr", "g_lr", "disc_channels"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"objective.{k}: must be positive, got {getattr(self, k)}")


# ---------------------------------------- classifiers (genlab.families.classifier)


@dataclass
class ClassifyConfig:
    """Cross-entropy over every head, with random-shift augmentation of the inputs."""

    kind: Literal["classify"] = "classify"
    shift: int = 0  # largest random translation in pixels (audio: samples; 0: none)
    label_smoothing: float = 0.0

    def __post_init__(self):
        if self.shift < 0:
            raise ConfigError(f"objective.shift: must be >= 0, got {self.shift}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(
                f"objective.label_smoothing: must be in [0, 1), got {self.label_smoothing}"
            )


@dataclass
class ContrastiveConfig:
    """CLIP's symmetric contrastive loss (Radford et al. 2021, Fig. 3) over a batch of
    images and their captions; captions repeated within a batch count as positives
    for each other (soft targets)."""

    kind: Literal["contrastive"] = "contrastive"
    shift: int = 0  # largest random translation of the images in pixels (0: none)

    def __post_init__(self):
        if self.shift < 0:
            raise ConfigError(f"objective.shift: must be >= 0, got {self.shift}")


@dataclass
class MuLawConfig:
    """WaveNet's objective (van den Oord et al. 2016): the cross-entropy of each mu-law
    code of the waveform given the earlier ones (``genlab.families.wavenet``)."""

    kind: Literal["mulaw"] = "mulaw"
    crop: int = 2048  # train on a random window of this many samples per batch (0: all)
    cond_drop: float = 0.0  # condition -> null with this probability (for guidance)

    def __post_init__(self):
        if self.crop < 0:
            raise ConfigError(f"objective.crop: must be >= 0 samples, got {self.crop}")
        if not 0 <= self.cond_drop <= 1:
            raise ConfigError(f"objective.cond_drop: must be in [0, 1], got {self.cond_drop}")


@dataclass
class HiFiGANObjective:
    """HiFi-GAN's game (Kong et al. 2020, Eq. 1-6): least-squares GAN losses summed over
    every sub-discriminator, plus ``fm_weight`` x feature matching and ``mel_weight`` x
    the L1 distance of log-mel spectrograms (the paper: 2 and 45), on random
    ``segment``-sample windows of the clips (``genlab.families.vocoder``)."""

    kind: Literal["hifigan"] = "hifigan"
    segment: int = 2048  # samples per training window (a multiple of the hop)
    mel_weight: float = 45.0
    fm_weight: float = 2.0
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    betas: tuple[float, float] = (0.8, 0.99)
    n_critic: int = 1

    def __post_init__(self):
        if self.segment < 64:
            raise ConfigError(f"objective.segment: must be at least 64 samples, got {self.segment}")
        for k in ("mel_weight", "fm_weight"):
            if getattr(self, k) < 0:
                raise ConfigError(f"objective.{k}: must be >= 0, got {getattr(self, k)}")
        if self.g_lr <= 0 or self.d_lr <= 0 or self.n_critic < 1:
            raise ConfigError("objective: g_lr and d_lr must be > 0 and n_critic >= 1")


@dataclass
class CodecObjective:
    """The codec's game (EnCodec, Défossez et al. 2022, Sec. 3.4), weights as there:
    ``time_weight`` x L1 on the waveform, ``mel_weight`` x the multi-scale log-mel L1
    (windows ``mel_sizes``, hop a quarter, as DAC; Kumar et al. 2023), ``adv_weight`` x
    hinge GAN and ``fm_weight`` x relative feature matching against the MS-STFT
    discriminator, ``commit_weight`` x the commitment loss, on random ``segment``-sample
    windows (``genlab.families.codec``). The adversarial terms join at ``adv_start``."""

    kind: Literal["codec"] = "codec"
    segment: int = 4096  # samples per training window (a multiple of the hop)
    time_weight: float = 0.1
    mel_weight: float = 1.0
    mel_sizes: tuple[int, ...] = (64, 128, 256, 512)
    adv_weight: float = 3.0
    fm_weight: float = 3.0
    commit_weight: float = 1.0
    adv_start: int = 0  # optimizer steps before the adversarial and feature terms join
    g_lr: float = 3e-4
    d_lr: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.9)
    n_critic: int = 1

    def __post_init__(self):
        if self.segment < 64:
            raise ConfigError(f"objective.segment: must be at least 64 samples, got {self.segment}")
        for k in ("time_weight", "mel_weight", "adv_weight", "fm_weight", "commit_weight",
                  "adv_start"):  # fmt: skip
            if getattr(self, k) < 0:
                raise ConfigError(f"objective.{k}: must be >= 0, got {getattr(self, k)}")
        if not self.mel_sizes or any(n < 16 for n in self.mel_sizes):
            raise ConfigError(
                f"objective.mel_sizes: windows of 16 samples or more, got {self.mel_sizes}"
            )
        if self.g_lr <= 0 or self.d_lr <= 0 or self.n_critic < 1:
            raise ConfigError("objective: g_lr and d_lr must be > 0 and n_critic >= 1")


@dataclass
class CodecLMObjective:
    """Cross-entropy of a trained codec run's tokens under a codec language model
    (``genlab.families.codec_lm``); class and speaker are dropped to their nulls with
    probability ``cond_drop`` (for guidance). ``coarse_fine`` adds the fine
    transformer's loss at one random level per clip (VALL-E's training)."""

    kind: Literal["codec_lm"] = "codec_lm"
    codec: str = "runs/codec-fsdd"  # a trained codec run directory
    cond_drop: float = 0.1

    def __post_init__(self):
        if not 0 <= self.cond_drop <= 1:
            raise ConfigError(f"objective.cond_drop: must be in [0, 1], got {self.cond_drop}")
