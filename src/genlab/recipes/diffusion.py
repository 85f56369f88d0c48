"""Diffusion and flow-matching recipes: rectified flow, DDPM and EDM on 2-D points,
8x8 digits and MNIST (U-Net or DiT), and the ``make demo`` run. Plain values only: the
family (``genlab.families.diffusion``) trains and samples them."""

from __future__ import annotations

import dataclasses
from functools import partial

from genlab.data import DATASETS
from genlab.data.configs import MNIST_ROOT, TRAIN_STOP
from genlab.experiment import Experiment, LoRAConfig, TextConfig, TrainConfig
from genlab.models import preset
from genlab.models.configs import ControlNetConfig
from genlab.objectives.configs import DenoiseConfig
from genlab.recipes.base import Recipe
from genlab.sampling.configs import DiffusionSamplerConfig

# The objective and default sampler of each method.
METHODS = {
    "rf": (DenoiseConfig(), DiffusionSamplerConfig(steps=50)),
    "ddpm": (
        DenoiseConfig(path="ddpm", target="eps", t_steps=1000),
        DiffusionSamplerConfig(name="ddpm", steps=100),
    ),
    "edm": (
        DenoiseConfig(
            path="edm",
            target="x0",
            precond="edm",
            weighting="edm",
            t_density="lognormal",
            t_loc=-1.2,
            t_scale=1.2,
        ),
        DiffusionSamplerConfig(name="heun", steps=18, grid="karras"),
    ),
}


# Each MNIST recipe's default sampler: the cheapest that stays within 5% of the 100-step
# FID, precision, recall and class accuracy, measured at 10,000 samples with CFG on runs
# trained on a GPU (`benchmarks/gpu_session.sh`, `benchmarks/sampler_defaults.py`;
# docs/performance.md):
# FID / 100-step FID 1.03 (rf), 1.005 (DiT), 1.02 (EDM, vs 1.01 for Heun 18), 1.01 (DDPM).
MNIST_SAMPLERS = {
    ("rf", "unet"): {"name": "dpmpp_2m", "steps": 15},  # was Euler 50: 3.3x fewer evaluations
    ("rf", "dit"): {"name": "dpmpp_2m", "steps": 15},  # was Euler 50: 3.3x
    ("edm", "unet"): {"name": "dpmpp_2m", "steps": 20},  # was Heun 18 (35 evaluations): 1.75x
    ("ddpm", "unet"): {"name": "dpmpp_2m", "steps": 10},  # was ancestral DDPM 100: 10x
}
# The same rule on the 8x8 digits recipes (and `demo`), at 1,000 samples on the CPU
# against the digits classifier (benchmarks/sampler_defaults.py; docs/performance.md).
DIGITS_SAMPLERS = {
    ("rf", "unet"): {"name": "dpmpp_2m", "steps": 8},  # was Euler 50: 6.25x
    ("rf", "dit"): {"name": "dpmpp_2m", "steps": 8},  # was Euler 50: 6.25x
    ("edm", "unet"): {"name": "dpmpp_2m", "steps": 15},  # was Heun 18 (35 evaluations): 2.33x
    # ddpm-digits keeps ancestral DDPM 100: DPM-Solver++(2M) at 8-20 steps scored 2.9-3.5x
    # its FID there, and DDPM at 50 steps lost 7% of recall
}


def _family(
    method: str, cond_drop: float, **sampler
) -> tuple[DenoiseConfig, DiffusionSamplerConfig]:
    import dataclasses

    o, s = METHODS[method]
    return dataclasses.replace(o, cond_drop=cond_drop), dataclasses.replace(s, **sampler)


def points(family: str = "rf", name: str = "grid25", classes: int = 0) -> Experiment:
    """An MLP on 2-D points, conditional on the dataset's ``classes`` labels (0: none).

    grid25 (25 modes of std 0.05, 2 apart) is tuned to train in under 2 CPU-minutes on
    one thread: random Fourier input features resolve the narrow modes (without them
    the same budget put about 30% of samples within 3 std of a mode).
    """
    data = DATASETS[name].config()
    k = classes
    objective, sampler = _family(family, 0.1 if k else 0.0)
    # ddpm: 100 ancestral steps (was 250: 25/25 modes and 99.3% high-quality both, W2 0.64
    # vs 0.58); DPM-Solver++(2M) doubled W2 here (docs/performance.md#default-samplers)
    sampler.steps = 100
    if family == "edm":  # the 25 Gaussians spread with std ~2.8: scale EDM to the data
        objective.sigma_data, objective.t_loc = 2.8, 0.5
        sampler.name, sampler.steps = "dpmpp_2m", 20  # was Heun 32 (63 evaluations): 3.15x
    if family == "rf" and name == "moons":
        sampler.name, sampler.steps = "dpmpp_2m", 30  # was Euler 100: W2 1.04x, 3.3x cheaper
    model = preset("mlp", num_classes=k)
    train = TrainConfig(
        steps=4000,
        batch_size=512,
        lr=1e-3,
        warmup_steps=100,
        ema_halflife=20_000,
        log_every=100,
        sample_every=1000,
        num_samples=2000,
        ckpt_every=1000,
    )
    if name == "grid25":
        model.fourier, model.fourier_scale = 128, 1.0
        train.steps, train.batch_size, train.lr = 4100, 256, 2e-3
        # a long EMA and a low final LR average out SGD noise: the modes are narrow
        train.ema_halflife, train.min_lr_ratio = 100_000, 0.02
        if family == "rf":
            objective.t_density, objective.t_loc = "logit_normal", -1.0  # more weight at low t
            # DPM-Solver++(2M) 20: 25/25 modes, 97.6% high-quality vs Heun 100's 95.6%, at
            # 20 evaluations (Heun 50: 98); docs/performance.md#default-samplers
            sampler.name, sampler.steps = "dpmpp_2m", 20
    return Experiment(
        recipe=f"{family}-{name}",
        data=data,
        model=model,
        objective=objective,
        sampler=sampler,
        train=train,
    )


def _image_train(steps: int, batch: int, lr: float, every: int) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=batch,
        lr=lr,
        warmup_steps=100,
        ema_halflife=20_000,
        log_every=50,
        sample_every=every,
        num_samples=100,
        ckpt_every=every,
    )


def digits(family: str = "rf", arch: str = "unet") -> Experiment:
    """Class-conditional model on the 8x8 scikit-learn digits (U-Net or DiT), with CFG."""
    objective, sampler = _family(family, 0.1, cfg=1.0, **DIGITS_SAMPLERS.get((family, arch), {}))
    if arch == "dit":
        model = preset("dit-digits", num_classes=10)
        train = _image_train(3000, 128, 1e-3, 1000)
    else:
        model = preset("unet-tiny", image_size=8, num_classes=10, channels=32)
        train = _image_train(1500, 128, 2e-3, 500)
    name = f"{family}-digits" if arch == "unet" else f"{arch}-digits"
    return Experiment(
        recipe=name,
        data=DATASETS["digits"].config(),
        model=model,
        objective=objective,
        sampler=sampler,
        train=train,
    )


def mnist(family: str = "rf", arch: str = "unet") -> Experiment:
    """Class-conditional MNIST: trains on test images [0, 8000) of ../shared/data/mnist
    (the project's convention; [8000, 10000) is held out), with CFG via cond_drop."""
    data = DATASETS["mnist"].config()
    data.root, data.split, data.start, data.stop = MNIST_ROOT, "test", 0, TRAIN_STOP
    objective, sampler = _family(family, 0.1, cfg=1.0, **MNIST_SAMPLERS[(family, arch)])
    if arch == "dit":
        model = preset("dit-mnist", num_classes=10)
    else:
        model = preset("unet-small", image_size=28, num_classes=10)
    name = f"{family}-mnist" if arch == "unet" else f"{arch}-mnist"
    return Experiment(
        recipe=name,
        data=data,
        model=model,
        objective=objective,
        sampler=sampler,
        train=_image_train(20_000, 128, 5e-4, 2000),
    )


def shapes(family: str = "rf") -> Experiment:
    """Colour-conditional model on 32x32 ``shapes`` (the class is the colour), with CFG:
    the base for the LoRA (``lora-shapes``) and ControlNet (``controlnet-shapes``) recipes.
    ``data.exclude=cyan`` trains a base that never sees one colour."""
    data = DATASETS["shapes"].config()
    data.label = "color"
    objective, sampler = _family(family, 0.1, cfg=1.0, name="dpmpp_2m", steps=15)
    # unet-small at width 32: 82 samples/s on 2 CPU threads (width 64: 23/s)
    model = preset(
        "unet-small", image_size=32, in_channels=3, channels=32, num_classes=len(data.colors)
    )
    return Experiment(
        recipe=f"{family}-shapes",
        data=data,
        model=model,
        objective=objective,
        sampler=sampler,
        train=_image_train(3000, 64, 1e-3, 500),
    )


# Attribute combinations the text-to-image recipes never see, for the compositional test
# (benchmarks/t2i_shapes.py): 5 shape x colour pairs (one per shape) and 6 colour x
# position pairs (one per colour); every shape, colour and position alone is still seen.
HELDOUT_COMBINATIONS = (
    "red+circle", "green+square", "blue+triangle", "yellow+diamond", "magenta+cross",
    "cyan+top left", "red+top right", "green+center", "blue+bottom left",
    "yellow+bottom right", "magenta+top",
)  # fmt: skip


def text_to_image(encoder: str = "minilm", arch: str = "unet") -> Experiment:
    """Text-to-image on 32x32 ``shapes`` from their captions ("a small red circle at the
    top left"): ``rf-shapes``'s rectified flow and U-Net without classes, reading the
    prompt by cross-attention at its attention levels and the middle, and its pooled
    states in the time embedding (``model.text_dim``); ``arch=dit``: a DiT whose
    ``model.text_conditioning`` is cross-attention (default), pooled adaLN only or MM-DiT
    joint attention. The data leave out the :data:`HELDOUT_COMBINATIONS`
    (``data.exclude=[]`` trains on all). ``minilm``: the frozen pretrained all-MiniLM-L6-v2,
    every caption encoded once when the run starts; ``words``: a small word-level
    transformer trained with the network; ``attributes``: the class-label baseline, each
    caption's four attributes as four learned tokens. The prompt is dropped to the empty
    prompt 10% of the time, for guidance."""
    exp = shapes("rf")
    exp.recipe = "t2i-" + ("dit-" if arch == "dit" else "") + "shapes"
    exp.recipe += "" if encoder == "minilm" else f"-{encoder}"
    exp.data.exclude = tuple(HELDOUT_COMBINATIONS)
    exp.text = TextConfig(encoder=encoder)
    # EDM's stochastic Heun (Karras et al. 2022, Alg. 2; S_churn 10 over 30 steps),
    # unguided: the deterministic samplers leave faint noise on the black background,
    # which the shapes classifier reads as a larger shape (exact match 0.96-0.98 against
    # 0.75-0.83 with DPM-Solver++; docs/text_to_image.md)
    exp.sampler = dataclasses.replace(exp.sampler, name="heun", steps=30, churn=10.0, cfg=0.0)
    text_dim = 384 if encoder == "minilm" else exp.text.dim  # words, attributes: 128
    if arch == "dit":  # 4x4 patches: 64 tokens of 32x32; about the U-Net's parameters
        exp.model = preset(
            "dit-mnist", image_size=32, in_channels=3, patch=4, hidden=128, depth=6, heads=4,
            text_dim=text_dim, pos_init="sincos",
        )  # fmt: skip
    else:
        exp.model.num_classes = 0
        exp.model.text_dim = text_dim
    return exp


def latent_text_to_image() -> Experiment:
    """``t2i-shapes`` in the latent space of a KL autoencoder (Rombach et al. 2022):
    ``objective.autoencoder`` names a trained ``klae-shapes`` run (``genlab train
    klae-shapes --out runs/klae-shapes``), whose stored scale and shift normalise its
    4x8x8 latents; the U-Net denoises those (16x fewer positions than 3x32x32 pixels) and
    ``genlab sample`` decodes the result."""
    exp = text_to_image("minilm")
    exp.recipe = "t2i-shapes-latent"
    exp.objective.autoencoder = "runs/klae-shapes"
    exp.model.in_channels, exp.model.image_size = 4, 8
    # the decoder draws a clean background, and the latent model does best with CFG at
    # w = 1 and DPM-Solver++ (docs/text_to_image.md)
    exp.sampler = dataclasses.replace(exp.sampler, name="dpmpp_2m", steps=15, churn=0.0, cfg=1.0)
    return exp


def lora_shapes() -> Experiment:
    """LoRA (Hu et al. 2021, via PEFT) teaching ``rf-shapes`` trained without cyan
    (``genlab train rf-shapes data.exclude=cyan --out runs/rf-shapes-nocyan``) the colour:
    rank-4 adapters on every conv, linear and embedding layer (the cyan class's embedding
    row was never trained), the base frozen. The data are 1,500 images of all six colours,
    so about 280 are cyan and the rest replay the colours the base knows: fine-tuned on 300
    cyan images alone (``data.keep=cyan data.n=300``) the adapter learns cyan but the old
    colours' accuracy falls from 0.96 to 0.49 (docs/lora.md). Only the adapters train;
    ``RUN/adapter`` holds them alone in PEFT's layout, for ``--lora RUN:SCALE``."""
    exp = shapes("rf")
    exp.recipe = "lora-shapes"
    exp.data.n = 1500
    exp.train.init_from = "runs/rf-shapes-nocyan"
    exp.lora = LoRAConfig(rank=4)
    exp.train.steps, exp.train.batch_size, exp.train.lr = 600, 32, 1e-3
    exp.train.sample_every = exp.train.ckpt_every = 200
    return exp


def inpainting(name: str) -> Experiment:
    """A trained inpainting model: ``rf-NAME`` whose U-Net also reads a random mask and the
    masked image (boxes, strokes, outpainting bands; everything masked for a quarter of the
    samples, so it still generates from nothing), as Stable Diffusion's inpainting models.
    ``benchmarks/editing.py`` compares it with RePaint on ``rf-NAME``."""
    exp = {"digits": digits, "mnist": mnist, "shapes": shapes}[name]("rf")
    exp.recipe = f"inpaint-{name}"
    exp.model.inpaint = True
    return exp


def controlnet(name: str, control: str = "edges") -> Experiment:
    """ControlNet (Zhang et al. 2023) on ``rf-NAME``: the base run's U-Net, loaded from
    ``train.init_from`` and frozen, steered by a trainable copy of its encoder that reads
    each image's outlines (``genlab.data.pairs.edges``) through zero convolutions. The
    copy trains at the base recipe's batch with AdamW 1e-4, as the paper fine-tunes
    (its 1e-5 is for Stable Diffusion's far larger network); class labels stay, dropped
    10% of the time for guidance. On ``shapes`` the class is the colour and the control
    is colourless (``model.control_channels=1``): white outlines (``edges``) or a blob
    where the shape sits (``position``), so the class alone says the colour."""
    exp = {"digits": digits, "mnist": mnist, "shapes": shapes}[name]("rf")
    exp.recipe = f"controlnet-{name}" + ("" if control == "edges" else f"-{control}")
    base = {f.name: getattr(exp.model, f.name) for f in dataclasses.fields(exp.model)}
    base.pop("arch")
    exp.model = ControlNetConfig(**base, control=control)
    exp.train.init_from = f"runs/rf-{name}"
    exp.train.lr, exp.train.steps, exp.train.batch_size = 1e-4, 2000, 64
    exp.train.sample_every = exp.train.ckpt_every = 250
    exp.train.keep_last = 20  # every checkpoint: benchmarks/controlnet.py scores each
    if name == "shapes":
        exp.model.control_channels = 1
        exp.train.steps, exp.train.batch_size = 1000, 32
        exp.train.sample_every = exp.train.ckpt_every = 100
    return exp


def demo() -> Experiment:
    """The `make demo` run: class-conditional rectified flow on digits, about 4 minutes on
    2 cores (1,200 steps of 128 at 700-900 samples/s, then 100 samples with
    DPM-Solver++(2M) in 8 steps); docs/performance.md#benchmark-claims."""
    exp = digits("rf")
    exp.recipe = "demo"
    exp.train.steps, exp.train.sample_every, exp.train.ckpt_every = 1200, 400, 400
    return exp


RECIPES = {
    "demo": Recipe(demo, "the `make demo` run: class-conditional rectified flow on digits"),
    "rf-digits": Recipe(
        partial(digits, "rf"), "class-conditional rectified flow, U-Net, 8x8 digits"
    ),
    "ddpm-digits": Recipe(partial(digits, "ddpm"), "class-conditional DDPM (eps), U-Net, digits"),
    "edm-digits": Recipe(partial(digits, "edm"), "class-conditional EDM, U-Net, digits"),
    "dit-digits": Recipe(
        partial(digits, "rf", "dit"), "class-conditional rectified flow, DiT, digits"
    ),
    "rf-grid25": Recipe(partial(points, "rf", "grid25"), "rectified flow, MLP, 25-Gaussian grid"),
    "ddpm-grid25": Recipe(partial(points, "ddpm", "grid25"), "DDPM (eps), MLP, 25-Gaussian grid"),
    "edm-grid25": Recipe(partial(points, "edm", "grid25"), "EDM, MLP, 25-Gaussian grid"),
    "rf-moons": Recipe(
        partial(points, "rf", "moons", classes=2),
        "class-conditional rectified flow, MLP, two moons",
    ),
    "inpaint-digits": Recipe(
        partial(inpainting, "digits"), "trained inpainting (mask channels), rectified flow, digits"
    ),
    "inpaint-shapes": Recipe(
        partial(inpainting, "shapes"),
        "trained inpainting (mask channels), rectified flow, shapes (class = colour)",
    ),
    "inpaint-mnist": Recipe(
        partial(inpainting, "mnist"), "trained inpainting (mask channels), rectified flow, MNIST"
    ),
    "controlnet-mnist": Recipe(
        partial(controlnet, "mnist"),
        "ControlNet on rf-mnist (frozen, train.init_from): digits drawn along given outlines",
    ),
    "rf-shapes": Recipe(
        partial(shapes, "rf"), "colour-conditional rectified flow, U-Net, 32x32 shapes"
    ),
    "t2i-shapes": Recipe(
        partial(text_to_image, "minilm"),
        "text-to-image, frozen MiniLM + U-Net cross-attention, rectified flow, shapes",
    ),
    "t2i-shapes-words": Recipe(
        partial(text_to_image, "words"),
        "text-to-image, trainable word encoder + U-Net cross-attention, shapes",
    ),
    "t2i-shapes-attributes": Recipe(
        partial(text_to_image, "attributes"),
        "class-label baseline for t2i-shapes: the caption's 4 attributes as learned tokens",
    ),
    "t2i-shapes-latent": Recipe(
        latent_text_to_image,
        "latent text-to-image: t2i-shapes on a klae-shapes run's 4x8x8 latents",
    ),
    "t2i-dit-shapes": Recipe(
        partial(text_to_image, "minilm", "dit"),
        "text-to-image, frozen MiniLM + DiT (cross | pooled | joint attention), shapes",
    ),
    "lora-shapes": Recipe(
        lora_shapes, "LoRA (PEFT) on rf-shapes without cyan (train.init_from): learns cyan"
    ),
    "controlnet-shapes": Recipe(
        partial(controlnet, "shapes"),
        "ControlNet on rf-shapes: a shape of the class's colour along white outlines",
    ),
    "controlnet-shapes-position": Recipe(
        partial(controlnet, "shapes", "position"),
        "ControlNet on rf-shapes: a shape of the class's colour where a blob says",
    ),
    "rf-mnist": Recipe(partial(mnist, "rf"), "class-conditional rectified flow, U-Net, MNIST"),
    "ddpm-mnist": Recipe(partial(mnist, "ddpm"), "class-conditional DDPM (eps), U-Net, MNIST"),
    "edm-mnist": Recipe(partial(mnist, "edm"), "class-conditional EDM, U-Net, MNIST"),
    "dit-mnist": Recipe(
        partial(mnist, "rf", "dit"), "class-conditional rectified flow, DiT, MNIST"
    ),
}
