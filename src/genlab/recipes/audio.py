"""Audio recipes (``genlab.data.audio``): waveforms ``(B, 1, L)`` in [-1, 1].

On the spoken digits (``fsdd``): ``wavenet-fsdd`` models them sample by sample
(``genlab.families.wavenet``); ``hifigan-fsdd`` is a vocoder from their log-mels
(``genlab.families.vocoder``); ``codec-fsdd`` a neural codec to residual-VQ tokens
(``genlab.families.codec``), and ``codec-lm-fsdd`` / ``codec-lm-cf-fsdd`` transformers
over those tokens (delay pattern / coarse-to-fine; ``genlab.families.codec_lm``);
``rf-mel-fsdd`` flows on log-mel spectrograms that a vocoder run turns into audio.
``rf-tones`` is the smallest generative audio run: rectified flow straight on the
waveform with a 1-D U-Net, class-conditional on the synthetic ``tones`` (no files
needed). ``genlab sample RUN --out x.wav`` writes what any of them draws. The
spoken-digit classifier that scores audio samples is ``eval-fsdd-classifier``
(genlab.recipes.eval).
"""

from __future__ import annotations

import dataclasses

from genlab.data import DATASETS
from genlab.experiment import Experiment, TrainConfig
from genlab.models import preset
from genlab.objectives.configs import (
    CodecLMObjective,
    CodecObjective,
    DenoiseConfig,
    HiFiGANObjective,
    MuLawConfig,
)
from genlab.recipes.base import Recipe
from genlab.sampling.configs import (
    CodecSamplerConfig,
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


def mel_flow_fsdd() -> Experiment:
    """Rectified flow on the spoken digits' log-mel spectrograms ``(1, 64, 128)`` (64
    bands x 128 frames of 8 ms: the vocoder's mels, normalised to [-1, 1]), with a
    non-square U-Net conditioned on digit and speaker (``data.label=digit_speaker``: 60
    classes) and CFG. ``runs/hifigan-fsdd`` is the latent-diffusion "autoencoder" (its
    mel analysis); samples are decoded by Griffin-Lim (``sampler.decoder=griffin-lim``,
    measured far more intelligible than the vocoder trained so far), or by the vocoder
    with ``sampler.decoder=autoencoder``."""
    data = DATASETS["fsdd"].config(label="digit_speaker")
    model = preset(
        "unet-small", image_size=64, frames=128, in_channels=1, channels=16,
        channel_mult=(1, 2, 2, 4), attn_levels=(3,), num_classes=60,
    )  # fmt: skip
    return Experiment(
        recipe="rf-mel-fsdd",
        data=data,
        model=model,
        objective=DenoiseConfig(autoencoder="runs/hifigan-fsdd", cond_drop=0.1),
        sampler=DiffusionSamplerConfig(name="dpmpp_2m", steps=20, cfg=1.0, decoder="griffin-lim"),
        train=TrainConfig(
            steps=2000,
            batch_size=32,
            lr=5e-4,
            warmup_steps=100,
            ema_halflife=1_000,
            log_every=50,
            sample_every=1000,
            num_samples=10,
            ckpt_every=500,
            threads=1,
        ),  # fmt: skip
    )


def mel_flow_fsdd_selfcond() -> Experiment:
    """``rf-mel-fsdd`` without labels, self-conditioned (Bao et al. 2022): the flow is
    conditioned on 60 k-means clusters of the clips' MFCCs (``data.label=cluster``;
    ``genlab.data.clusters``) and, unasked, samples a cluster from the training
    frequencies (``genlab sample`` without ``--class``), then guides towards it (CFG 1)."""
    exp = mel_flow_fsdd()
    data = dataclasses.replace(exp.data, label="cluster", clusters=60)
    return dataclasses.replace(exp, recipe="rf-mel-fsdd-selfcond", data=data)


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


def vocos_fsdd(griffin_lim: bool = False) -> Experiment:
    """A Vocos vocoder (Siuzdak 2023) for the same log-mels as ``hifigan-fsdd``: 8
    ConvNeXt blocks 256 wide at the frame rate (125 frames/s) and an iSTFT head, against
    the same discriminators and losses; the same windows, batch and learning rate.
    ``griffin_lim`` (``vocos-gl-fsdd``): the phase of 32 Griffin-Lim iterations on its
    magnitude plus a learned correction (``model.phase=griffin-lim``); untrained, it is
    Griffin-Lim."""
    exp = hifigan_fsdd()
    name = "vocos-gl" if griffin_lim else "vocos"
    model = preset(f"{name}-small", length=exp.data.length, sample_rate=exp.data.sample_rate)
    return dataclasses.replace(exp, recipe=f"{name}-fsdd", model=model)


def codec_fsdd() -> Experiment:
    """A SoundStream/EnCodec-style codec for the spoken digits: strides 2 x 4 x 8 (125
    frames per second at 8 kHz), 4 residual codebooks of 256 codes (1-4 kbit/s with
    quantizer dropout), a Vocos (iSTFT) decoder, the MS-STFT discriminator joining after
    1,000 steps; 0.256 s training windows."""
    data = DATASETS["fsdd"].config()
    return Experiment(
        recipe="codec-fsdd",
        data=data,
        model=preset("codec-small", length=data.length, sample_rate=data.sample_rate),
        objective=CodecObjective(segment=2048, adv_start=1000),
        sampler=CodecSamplerConfig(),
        train=TrainConfig(
            steps=2000,
            batch_size=16,
            lr=3e-4,
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


def codec_mel_fsdd() -> Experiment:
    """``codec-fsdd`` on the log-mel (``model.encoder=mel``, ``model.decoder=mel``): the
    same residual VQ (1-4 kbit/s) between an encoder of the 64-band log-mel (Spectral
    Codecs, Langman et al. 2024) and a decoder back to it, trained by regression (no
    discriminator); Griffin-Lim makes the waveform. It trains on whole clips (working at
    the frame rate, it is cheap), 3,000 steps."""
    exp = codec_fsdd()
    model = dataclasses.replace(exp.model, encoder="mel", decoder="mel")
    objective = dataclasses.replace(
        exp.objective, segment=exp.data.length, time_weight=0.0, adv_weight=0.0,
        fm_weight=0.0, adv_start=0,
    )  # fmt: skip
    train = dataclasses.replace(exp.train, steps=3000)
    return dataclasses.replace(
        exp, recipe="codec-mel-fsdd", model=model, objective=objective, train=train
    )


def codec_lm_fsdd(pattern: str = "delay") -> Experiment:
    """A transformer over ``runs/codec-fsdd``'s tokens (4 codebooks x 128 frames per
    1.02 s clip), conditioned on digit and speaker: the MusicGen delay pattern (131
    steps of 4 tokens) or coarse-to-fine (128 coarse steps, then 3 parallel fine passes)."""
    data = DATASETS["fsdd"].config()
    model = preset("codec-lm-small", pattern=pattern, frames=128, num_classes=10, num_speakers=6)
    return Experiment(
        recipe="codec-lm-fsdd" if pattern == "delay" else "codec-lm-cf-fsdd",
        data=data,
        model=model,
        objective=CodecLMObjective(codec="runs/codec-fsdd", cond_drop=0.1),
        sampler=TokenSamplerConfig(),
        train=TrainConfig(
            steps=2000,
            batch_size=32,
            lr=1e-3,
            warmup_steps=100,
            ema_halflife=1_000,
            log_every=50,
            sample_every=1000,
            num_samples=10,
            ckpt_every=500,
            threads=1,
        ),  # fmt: skip
    )


RECIPES = {
    "codec-lm-fsdd": Recipe(
        codec_lm_fsdd, "codec language model, MusicGen delay pattern, digit + speaker"
    ),
    "codec-lm-cf-fsdd": Recipe(
        lambda: codec_lm_fsdd("coarse_fine"),
        "codec language model, coarse-to-fine (AudioLM/VALL-E), digit + speaker",
    ),
    "codec-fsdd": Recipe(
        codec_fsdd, "neural audio codec (residual VQ, MS-STFT discriminator) for spoken digits"
    ),
    "codec-mel-fsdd": Recipe(
        codec_mel_fsdd, "spectral codec (log-mel encoder and decoder, residual VQ), Griffin-Lim"
    ),
    "hifigan-fsdd": Recipe(
        hifigan_fsdd, "HiFi-GAN vocoder (MPD + MSD, mel L1 + feature matching) for spoken digits"
    ),
    "vocos-fsdd": Recipe(
        vocos_fsdd, "Vocos vocoder (ConvNeXt at the frame rate, iSTFT head) for spoken digits"
    ),
    "vocos-gl-fsdd": Recipe(
        lambda: vocos_fsdd(griffin_lim=True),
        "Vocos vocoder whose phase starts from Griffin-Lim, with a learned correction",
    ),
    "wavenet-fsdd": Recipe(
        wavenet_fsdd, "WaveNet on spoken digits: mu-law softmax, digit + speaker, cached sampling"
    ),
    "rf-mel-fsdd": Recipe(
        mel_flow_fsdd, "rectified flow on log-mel spectrograms (non-square U-Net) + vocoder"
    ),
    "rf-mel-fsdd-selfcond": Recipe(
        mel_flow_fsdd_selfcond,
        "rf-mel-fsdd without labels: self-conditioned on k-means clusters of MFCCs",
    ),
    "rf-tones": Recipe(tones_flow, "rectified flow on waveforms, 1-D U-Net, synthetic tones"),
}
