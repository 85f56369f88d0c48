"""Video recipes (``genlab.data.video``): clips ``(B, C, T, H, W)`` in [-1, 1].

On Moving MNIST (``moving-mnist``: 2 digits bouncing on 64x64, 20 frames; training clips
from MNIST test images [0, 8000), held-out clips from [8000, 10000)):

- ``dit-moving-mnist``: rectified flow with the video DiT on space-time patches (8x8
  pixels x 2 frames: 640 tokens), divided attention (a spatial then a temporal sublayer
  in each block, TimeSformer); ``dit-full-moving-mnist`` and
  ``dit-temporal-moving-mnist`` are the same network with full 3-D attention and with an
  image DiT plus inserted temporal layers, for the attention comparison
  (``benchmarks/video.py``). Every one is also a trained video inpainting network
  (``model.inpaint``, ``genlab.objectives.masks.frame_masks``): a quarter of the training
  clips are generated from nothing, the rest continue a clean past of 1-19 frames, so
  one network samples clips (``genlab sample RUN --out x.gif``), predicts frames (10 in,
  10 out) and rolls out clips of any length (``genlab sample RUN --frames 60``).
- ``video-klae-moving-mnist``: the causal 3-D convolutional KL autoencoder (4x in time
  and space: 4x5x16x16 latents) against the 3-D patch discriminator, and
  ``dit-latent-moving-mnist``, the DiT on its latents (latent video diffusion).

The feature network of the video metrics is ``eval-moving-mnist-classifier``
(genlab.recipes.eval).
"""

from __future__ import annotations

import dataclasses
from functools import partial

from genlab.data import DATASETS
from genlab.experiment import Experiment, TrainConfig
from genlab.models import preset
from genlab.models.configs import DiTConfig
from genlab.objectives.configs import DenoiseConfig, KLAEConfig
from genlab.recipes.base import Recipe
from genlab.sampling.configs import DiffusionSamplerConfig, VAESamplerConfig

# Moving MNIST clips held in memory: 5,000 x 20 x 64 x 64 float32 = 1.6 GB
CLIPS = 5_000


def _train(steps: int, batch: int, lr: float, **kw) -> TrainConfig:
    return TrainConfig(
        steps=steps, batch_size=batch, lr=lr, warmup_steps=100, ema_halflife=2_000,
        log_every=25, sample_every=500, num_samples=4, ckpt_every=250, threads=1, **kw,
    )  # fmt: skip


def dit_moving_mnist(attention: str = "divided") -> Experiment:
    """Rectified flow (velocity target, logit-normal times) with a video DiT on Moving
    MNIST, ``attention`` one of the DiT's video modes; a video inpainting network
    (random clean past: frame prediction and rollout). Hidden 192, depth 6, 6 heads."""
    model = DiTConfig(
        dims=3, in_channels=1, frames=20, image_size=64, patch=8, temporal_patch=2,
        hidden=192, depth=6, heads=6, attention=attention, inpaint=True,
    )  # fmt: skip
    return Experiment(
        data=DATASETS["moving-mnist"].config(n=CLIPS),
        model=model,
        objective=DenoiseConfig(t_density="logit_normal", cond_drop=0.0),
        sampler=DiffusionSamplerConfig(name="dpmpp_2m", steps=20),
        train=_train(1500, 8, 3e-4),
    )


# ------------------------------------- the attention comparison at a scale a CPU trains
#
# One digit (resized to 14x14) bouncing on a 32x32 canvas, 20 frames: the standard
# protocol at half scale with one digit. The DiT uses 8x8-pixel x 1-frame patches (16
# tokens a frame, 320 a clip), depth 4, 4 heads, and each attention mode gets the width
# that brings it to 1.75 M parameters (divided 128: 1,753,408; temporal layers 136:
# 1,752,560; full 148: 1,714,792, 2.2% fewer), so the modes compare at equal parameters
# and equal steps (``benchmarks/video.py --runs``, ``--predict``; docs/video.md).
# Times are shifted towards noise, in training and in the sampler's grid (SD3's
# resolution shift t -> s t / (1 + (s - 1) t), Esser et al. 2024, sec. 5.3.2, with
# s = 4 ~ sqrt(20): the 20 frames repeat one digit, so its place and path are settled
# at higher noise than a single frame's). Positions start as sine-cosine tables in space
# and time (model.pos_init=sincos): from N(0, 0.02^2) the learned frame positions of
# these networks stayed near rms 0.01, the frames all but indistinguishable to attention.
SMALL_WIDTH = {"divided": 128, "temporal_layers": 136, "full": 148}
SMALL_MOVING_MNIST = {"image_size": 32, "digit_size": 14, "digits": 1}  # data.* keys


def dit_moving_mnist_small(attention: str = "divided") -> Experiment:
    """:func:`dit_moving_mnist` on one 14x14 digit in a 32x32 canvas (20 frames), widths
    in ``SMALL_WIDTH`` (equal parameters), sine-cosine positions in space and time, times
    shifted by 4: 2,500 steps of 8 clips, about 0.65 s a step on one CPU thread."""
    model = DiTConfig(
        dims=3, in_channels=1, frames=20, image_size=32, patch=8, temporal_patch=1,
        hidden=SMALL_WIDTH[attention], depth=4, heads=4, attention=attention, inpaint=True,
        pos_init="sincos",
    )  # fmt: skip
    data = DATASETS["moving-mnist"].config(n=CLIPS, **SMALL_MOVING_MNIST)
    return Experiment(
        data=data,
        model=model,
        objective=DenoiseConfig(t_density="logit_normal", t_shift=4.0, cond_drop=0.0),
        sampler=DiffusionSamplerConfig(name="dpmpp_2m", steps=20, grid="shifted", shift=4.0),
        train=_train(2500, 8, 5e-4),
    )


def dit_predict_moving_mnist_small() -> Experiment:
    """``dit-moving-mnist-small`` trained for the prediction protocol: every clip that is
    not generated from nothing (a quarter are) has exactly 10 known frames
    (``objective.context_frames=10``, not 1-19 at random), and the loss averages over the
    10 frames to generate only (``objective.masked_loss``)."""
    exp = dit_moving_mnist_small("divided")
    exp.objective.context_frames, exp.objective.masked_loss = 10, True
    return exp


def dit_forcing_moving_mnist_small() -> Experiment:
    """``dit-moving-mnist-small`` trained by diffusion forcing (Chen et al. 2024): no
    inpainting channels; every frame of every clip draws its own time, so a past given
    clean at sampling time (``sampler.context_noise=0``) conditions the frames after it
    (prediction, rollout). The times are uniform on [0, 1] and unshifted, as the paper's
    independent noise levels: under the shifted logit-normal density of the other runs a
    frame below t = 0.1 is drawn once in about 6,000, so a clean past would be outside
    what the network was trained on."""
    exp = dit_moving_mnist_small("divided")
    exp.model = dataclasses.replace(exp.model, inpaint=False)
    exp.objective = dataclasses.replace(
        exp.objective, diffusion_forcing=True, t_density="uniform", t_shift=1.0
    )
    return exp


def video_klae() -> Experiment:
    """The causal video KL autoencoder (``video-klae-small``: 1x20x64x64 -> 4x5x16x16,
    Gaussian reconstruction, KL weight 1e-3) and a 3-D patch discriminator (hinge, weight
    0.5) from step 500. Gaussian, not Laplace: an L1 loss's optimum is the per-pixel
    median, black where digits cover few pixels, and on the half-scale clips
    (``video-klae-moving-mnist-small``) Laplace stayed at all-black frames for 500 steps
    where Gaussian's step-500 samples show blurred digits in place (docs/video.md)."""
    return Experiment(
        data=DATASETS["moving-mnist"].config(n=CLIPS),
        model=preset("video-klae-small"),
        objective=KLAEConfig(disc_weight=0.5, disc_start=500),
        sampler=VAESamplerConfig(),
        train=_train(1500, 8, 1e-3),
    )


def dit_latent_moving_mnist() -> Experiment:
    """Latent video diffusion: rectified flow with the video DiT (2x2 patches of the
    16x16 latent, one latent frame per token row: 320 tokens, divided attention) on the
    latents of ``runs/video-klae-moving-mnist``."""
    model = DiTConfig(
        dims=3, in_channels=4, frames=5, image_size=16, patch=2, temporal_patch=1,
        hidden=192, depth=6, heads=6, attention="divided",
    )  # fmt: skip
    return Experiment(
        data=DATASETS["moving-mnist"].config(n=CLIPS),
        model=model,
        objective=DenoiseConfig(
            t_density="logit_normal", cond_drop=0.0, autoencoder="runs/video-klae-moving-mnist"
        ),
        sampler=DiffusionSamplerConfig(name="dpmpp_2m", steps=20),
        train=_train(2000, 8, 3e-4),
    )


# ------------------------------------- latent against pixel, at half scale
#
# The autoencoder of the half-scale clips (1x20x32x32 -> 4x5x8x8, 16x fewer numbers) and
# the DiT of ``dit-moving-mnist-small`` on its latents: same depth, heads, width (128)
# and divided attention, 1x1 latent patches so a clip is again 320 tokens (64 a latent
# frame x 5), the same steps and batch. Only the space differs, pixels or latents. No
# time shift: a latent clip has 1,280 numbers, near one 32x32 image, where the pixel
# clip's 20,480 asked for s = 4 (SD3's sqrt of the size ratio).


def video_klae_small() -> Experiment:
    """:func:`video_klae` on the half-scale clips (one 14x14 digit on 32x32, 20 frames):
    1x20x32x32 -> 4x5x8x8, 1,500 steps of 8 clips, about 2.5 s a step on one CPU thread."""
    exp = video_klae()
    exp.data = DATASETS["moving-mnist"].config(n=CLIPS, **SMALL_MOVING_MNIST)
    exp.model = dataclasses.replace(exp.model, image_size=exp.data.image_size)  # checked
    return exp


def dit_latent_moving_mnist_small() -> Experiment:
    """Latent video diffusion at half scale: ``dit-moving-mnist-small``'s divided DiT
    (width 128, depth 4, 4 heads, sine-cosine positions) on the 4x5x8x8 latents of
    ``runs/video-klae-moving-mnist-small``, 1x1 patches (320 tokens), 2,500 steps."""
    model = DiTConfig(
        dims=3, in_channels=4, frames=5, image_size=8, patch=1, temporal_patch=1,
        hidden=SMALL_WIDTH["divided"], depth=4, heads=4, attention="divided",
        pos_init="sincos",
    )  # fmt: skip
    return Experiment(
        data=DATASETS["moving-mnist"].config(n=CLIPS, **SMALL_MOVING_MNIST),
        model=model,
        objective=DenoiseConfig(
            t_density="logit_normal",
            cond_drop=0.0,
            autoencoder="runs/video-klae-moving-mnist-small",
        ),
        sampler=DiffusionSamplerConfig(name="dpmpp_2m", steps=20),
        train=_train(2500, 8, 5e-4),
    )


# ---------------------------------------- text-to-video on moving-shapes
#
# One coloured shape crossing a 32x32 frame in 16 frames (``moving-shapes``), captioned
# "a small red circle moves left to right": 5 shapes x 6 colours x 3 sizes x 4 directions,
# 360 captions. ``t2v-moving-shapes`` generates clips from such prompts
# (``genlab sample RUN --prompt "a red circle moves left to right" --out x.gif``);
# ``eval-moving-shapes-classifier`` says which shape, colour, size and motion a clip shows:
# its heads against the prompts' ``genlab.cond.prompts.attribute_labels`` give
# ``genlab.metrics.scores.attribute_accuracy`` (per attribute, and exact match).


def text_to_video(encoder: str = "minilm") -> Experiment:
    """Text-to-video on ``moving-shapes``: rectified flow (velocity target, logit-normal
    times) with the video DiT on space-time patches (4x4 pixels x 2 frames: 8 x 64 = 512
    tokens), divided attention (spatial then temporal sublayers), each block
    cross-attending to the prompt's token states, its pooled states in adaLN. ``minilm``:
    the frozen all-MiniLM-L6-v2, the 360 captions encoded once when the run starts;
    ``words``: a small word transformer trained with the network. The prompt is dropped
    to the empty prompt 10% of the time; samples use guidance weight 3. Hidden 96, depth
    4, 4 heads (1.4 M parameters): 1,500 steps of 16 clips, about 1.2 s each on one CPU
    thread of a busy 2-core laptop (13 clips/s; ``model.depth=3``: 0.95 s)."""
    from genlab.experiment import TextConfig

    text = TextConfig(encoder=encoder)
    model = DiTConfig(
        dims=3, in_channels=3, frames=16, image_size=32, patch=4, temporal_patch=2,
        hidden=96, depth=4, heads=4, attention="divided",
        text_dim=384 if encoder == "minilm" else text.dim, text_conditioning="cross",
    )  # fmt: skip
    return Experiment(
        data=DATASETS["moving-shapes"].config(),
        model=model,
        objective=DenoiseConfig(t_density="logit_normal", cond_drop=0.1),
        sampler=DiffusionSamplerConfig(name="dpmpp_2m", steps=20, cfg=3.0),
        train=_train(1500, 16, 5e-4),
        text=text,
    )


def moving_shapes_classifier() -> Experiment:
    """The 3-D CNN classifier (``kind=video``, width 16) of ``moving-shapes`` clips with
    four single-label heads, one per attribute a caption names: shape (5), colour (6),
    size (3) and direction (4), to score whether a generated clip shows its prompt (size
    included: the attributes metric scores every attribute a prompt names).
    Seed 0 data; other seeds are held out. About 0.1 s a step of 32 clips on one CPU
    thread, 3,000 steps; colour and direction are learnt first (training accuracy 1.0 by
    step 300), size and shape slowly (0.84 and 0.47 at step 1,000, still rising)."""
    from genlab.data.configs import MOVING_ATTRIBUTES, moving_attribute_values
    from genlab.models.configs import ClassifierConfig
    from genlab.objectives.configs import ClassifyConfig
    from genlab.sampling.configs import ClassifierEvalConfig

    data = DATASETS["moving-shapes"].config()
    names = moving_attribute_values(data)  # shape, color, size, direction
    model = ClassifierConfig(
        kind="video", in_channels=3, image_size=data.image_size, frames=data.frames, width=16,
        heads=tuple(len(names[a]) for a in MOVING_ATTRIBUTES), head_names=MOVING_ATTRIBUTES,
    )  # fmt: skip
    exp = Experiment(
        data=data,
        model=model,
        objective=ClassifyConfig(shift=0),
        sampler=ClassifierEvalConfig(batch_size=64),
        train=_train(3000, 32, 2e-3, weight_decay=1e-4),
    )
    exp.train.ema_halflife, exp.train.sample_every = 20_000, 0
    return exp


RECIPES = {
    "dit-moving-mnist": Recipe(
        dit_moving_mnist,
        "video DiT (divided space-time attention), rectified flow + frame prediction, Moving MNIST",
    ),
    "dit-full-moving-mnist": Recipe(
        partial(dit_moving_mnist, "full"), "dit-moving-mnist with full 3-D attention"
    ),
    "dit-temporal-moving-mnist": Recipe(
        partial(dit_moving_mnist, "temporal_layers"),
        "dit-moving-mnist as an image DiT with inserted temporal layers",
    ),
    "dit-moving-mnist-small": Recipe(
        dit_moving_mnist_small,
        "dit-moving-mnist at half scale (one digit, 32x32), divided attention, 1.75 M params",
    ),
    "dit-full-moving-mnist-small": Recipe(
        partial(dit_moving_mnist_small, "full"),
        "dit-moving-mnist-small with full 3-D attention (equal parameters)",
    ),
    "dit-temporal-moving-mnist-small": Recipe(
        partial(dit_moving_mnist_small, "temporal_layers"),
        "dit-moving-mnist-small as an image DiT with temporal layers (equal parameters)",
    ),
    "dit-predict-moving-mnist-small": Recipe(
        dit_predict_moving_mnist_small,
        "dit-moving-mnist-small trained on 10 known frames, loss on the 10 to predict",
    ),
    "dit-forcing-moving-mnist-small": Recipe(
        dit_forcing_moving_mnist_small,
        "dit-moving-mnist-small by diffusion forcing (a time per frame), no inpainting input",
    ),
    "video-klae-moving-mnist": Recipe(
        video_klae, "causal 3-D conv KL autoencoder (4x time, 4x space) + 3-D patch D"
    ),
    "dit-latent-moving-mnist": Recipe(
        dit_latent_moving_mnist, "latent video diffusion: the video DiT on video-klae latents"
    ),
    "video-klae-moving-mnist-small": Recipe(
        video_klae_small, "video-klae-moving-mnist at half scale (one digit, 32x32)"
    ),
    "dit-latent-moving-mnist-small": Recipe(
        dit_latent_moving_mnist_small,
        "dit-moving-mnist-small's DiT on video-klae-moving-mnist-small latents (320 tokens)",
    ),
    "t2v-moving-shapes": Recipe(
        text_to_video, "text-to-video, frozen MiniLM + video DiT cross-attention, moving-shapes"
    ),
    "t2v-moving-shapes-words": Recipe(
        partial(text_to_video, "words"),
        "text-to-video, trainable word encoder + video DiT cross-attention, moving-shapes",
    ),
    "eval-moving-shapes-classifier": Recipe(
        moving_shapes_classifier, "moving-shapes 3-D CNN (shape/colour/size/direction heads)"
    ),
}
