"""Audio recipes (``genlab.data.audio``): waveforms ``(B, 1, L)`` in [-1, 1].

``wavenet-fsdd`` models the spoken digits sample by sample (``genlab.families.wavenet``).
``rf-tones`` is the smallest generative audio run: rectified flow straight on the
waveform with a 1-D U-Net, class-conditional on the synthetic ``tones`` (no files
needed); ``genlab sample RUN --out x.wav`` writes what it draws. The spoken-digit
classifier that scores audio samples is ``eval-fsdd-classifier`` (genlab.recipes.eval).
"""

from __future__ import annotations

from genlab.data import DATASETS
from genlab.experiment import Experiment, TrainConfig
from genlab.models import preset
from genlab.objectives.configs import DenoiseConfig, HiFiGANObjective, MuLawConfig
from genlab.recipes.base import Recipe
from genlab.sampling.configs import (
    DiffusionSamplerConfig,
    TokenSamplerConfig,
    VocoderSamplerConfig,
)


def tones_flow() -> Experiment:
    """Class-conditional rectified flow on 0.256 s of ``tones`` (2,048 samples at 8 kHz):
    a 1-D U-Net (``model.dims=1``) with four resolution levels (2048 -> 256 positions,
    attention at the coarsest), CFG as on images."""
    data = DATASETS["tones"].config(length=2048)
    model = preset(
        "unet-small", dims=1, image_size=2048, in_channels=1, channels=16,
        channel_mult=(1, 2, 4, 8), attn_levels=(3,), num_classes=5,
    )  # fmt: skip
    return Experiment(
        recipe="rf-tones",
        data=data,
        model=model,
        objective=DenoiseConfig(cond_drop=0.1),
        sampler=DiffusionSamplerConfig(name="dpmpp_2m", steps=20, cfg=1.0),
        train=TrainConfig(
            steps=1500,
            batch_size=32,
            lr=1e-3,
            warmup_steps=100,
            ema_halflife=10_000,
            log_every=50,
            sample_every=500,
            num_samples=10,
            ckpt_every=500,
            threads=1,
        ),  # fmt: skip
    )


def wavenet_fsdd() -> Experiment:
    """WaveNet on the spoken digits (takes 5-49 of ``../shared/data/fsdd``), conditioned
    on digit and speaker: 2 stacks of 10 layers (receptive field 2,047 samples, 0.26 s),
    256 mu-law levels, trained on random 0.5 s windows; samples are 1.02 s (8,192
    samples), drawn with the cached O(L) generator."""
    data = DATASETS["fsdd"].config()
    return Experiment(
        recipe="wavenet-fsdd",
        data=data,
        model=preset("wavenet-small", length=data.length, num_classes=10, num_speakers=6),
        objective=MuLawConfig(crop=4096),
        sampler=TokenSamplerConfig(),
        train=TrainConfig(
            steps=4000,
            batch_size=8,
            lr=1e-3,
            warmup_steps=200,
            ema_halflife=2_000,
            log_every=50,
            sample_every=0,
            num_samples=10,
            ckpt_every=500,
            threads=1,
        ),  # fmt: skip
    )


def hifigan_fsdd() -> Experiment:
    """A HiFi-GAN vocoder for the spoken digits' 64-band log-mels (8 kHz, 32 ms windows,
    8 ms hops: the classifier's and a mel generator's): upsampling 4 x 4 x 4, MRF
    kernels 3, 7, 11, MPD periods 2-11 and three MSD scales, narrower than the paper's
    for CPUs; 0.256 s training windows."""
    data = DATASETS["fsdd"].config()
    return Experiment(
        recipe="hifigan-fsdd",
        data=data,
        model=preset("hifigan-small", length=data.length, sample_rate=data.sample_rate),
        objective=HiFiGANObjective(),
        sampler=VocoderSamplerConfig(),
        train=TrainConfig(
            steps=3000,
            batch_size=16,
            lr=2e-4,
            warmup_steps=0,
            min_lr_ratio=1.0,
            ema_halflife=500,
            log_every=50,
            sample_every=500,
            num_samples=4,
            ckpt_every=500,
            threads=1,
        ),  # fmt: skip
    )


RECIPES = {
    "hifigan-fsdd": Recipe(
        hifigan_fsdd, "HiFi-GAN vocoder (MPD + MSD, mel L1 + feature matching) for spoken digits"
    ),
    "wavenet-fsdd": Recipe(
        wavenet_fsdd, "WaveNet on spoken digits: mu-law softmax, digit + speaker, cached sampling"
    ),
    "rf-tones": Recipe(tones_flow, "rectified flow on waveforms, 1-D U-Net, synthetic tones"),
}
