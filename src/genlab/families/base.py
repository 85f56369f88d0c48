"""The :class:`Family` record and the glue every family shares.

A family puts one kind of generative model together: it builds the network from an
:class:`~genlab.experiment.Experiment`, trains it by handing its parts (network, loss,
data, preview) to one of the two loops in ``genlab.train``, and draws samples. Every
field of the record is required: the loops and ``genlab.runs`` never ask a family
whether it has something.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genlab.adapters.lora import add_lora, trainable_fraction
from genlab.checkpoint import warm_start
from genlab.cond import class_keys, class_null
from genlab.data import DATASETS, build_dataset, heldout_config
from genlab.data.base import Dataset
from genlab.data.pairs import make_source
from genlab.errors import CheckpointError, ConfigError, GenlabError
from genlab.experiment import Experiment
from genlab.rng import keyed
from genlab.sampling.video import rollout
from genlab.train import loop
from genlab.train.batches import to_device

# sample(network, exp, seeds, cond, sampler config) -> (len(seeds), *shape) in data space
SampleFn = Callable[[nn.Module, Experiment, list[int], dict, Any], Tensor]


@dataclass(frozen=True)
class Family:
    """One family of generative models.

    Attributes:
        name: "diffusion", "gan", "vae", "tokens", "classifier", ... (its objective kinds
            and their config sections are in ``genlab.families.KINDS``).
        build: ``build(exp) -> nn.Module``, the network ``model.safetensors`` holds.
        fit: ``fit(exp, run_dir, resume) -> run_dir``: trains through a loop of
            ``genlab.train``.
        sample: ``sample(model, exp, seeds, cond, sampler_cfg) -> (n, *shape)`` samples in
            data space; sample i depends only on ``seeds[i]``.
        cond_keys: ``cond_keys(exp)`` the condition keys the network takes.
        null_cond: ``null_cond(exp)`` the declared null of each key (``genlab.cond``).
        dependencies: ``dependencies(exp) -> {config key: (run dir, weights)}``, the
            other runs this one reads (a tokenizer, a codec, a teacher); ``genlab.runs``
            pins each one's location and fingerprint.
        doc: one line for ``genlab list``.
        noise_shape: ``noise_shape(exp) -> (shape,) | None``: the shape of the
            continuous noise a sample starts from (its first draw from ``keyed(seed)``),
            which ``sample(..., noise=...)`` accepts in place of that draw (latent walks,
            ``genlab.runs.interpolate``); None where samples start from discrete draws.
        samples_alone: whether ``sample`` needs none of the runs in ``dependencies``
            (a distilled student needs its teacher to train, not to sample): loading
            such a run to sample it accepts a moved or retrained dependency.
        edit: ``edit(model, exp, seeds, cond, sampler_cfg, x_in, mask, *, strength,
            jump_length, resample, key, replace) -> (n, *shape)``: inpainting and SDEdit
            (``genlab.sampling.edit``); None where the family cannot edit.
        translate: ``translate(model, exp, source (B, C, H, W), direction) -> (B, C, H,
            W)``: image-to-image translation (``genlab edit RUN --image``); None where
            the family does not translate.
        reference: ``reference(exp, sampler_cfg) -> (data config, description)``: the
            held-out set ``genlab eval`` scores samples against; None: the run's held-out
            data (``genlab.data.heldout_config``).
    """

    name: str
    build: Callable[[Experiment], nn.Module]
    fit: Callable[[Experiment, Path, bool], Path]
    sample: SampleFn
    cond_keys: Callable[[Experiment], tuple[str, ...]]
    null_cond: Callable[[Experiment], dict]
    dependencies: Callable[[Experiment], dict[str, tuple[str, str]]]
    doc: str
    noise_shape: Callable[[Experiment], tuple[int, ...] | None] = lambda exp: None
    samples_alone: bool = False
    edit: Callable[..., Tensor] | None = None
    translate: Callable[[nn.Module, Experiment, Tensor, str], Tensor] | None = None
    reference: Callable[[Experiment, Any], tuple[Any, str]] | None = None


def class_null_cond(exp: Experiment) -> dict:
    """The declared null of a ``model.num_classes``-way class condition (``genlab.cond``)."""
    return class_null(getattr(exp.model, "num_classes", 0))


def class_cond_keys(exp: Experiment) -> tuple[str, ...]:
    """``("class",)`` for a class-conditional network, else ``()``."""
    return class_keys(getattr(exp.model, "num_classes", 0))


def no_dependencies(exp: Experiment) -> dict[str, tuple[str, str]]:
    """For families whose runs read no other run."""
    return {}


def prepare(
    exp: Experiment,
    build: Callable[[Experiment], nn.Module],
    resume: bool = False,
    latent: bool = False,
) -> tuple[Dataset, nn.Module]:
    """The training data and a freshly initialised network (initialisation seeded by
    ``exp.seed`` alone), warm-started from ``train.init_from``'s EMA weights when set and
    not ``resume`` (a resumed run loads its own checkpoint); a clear error if they do not
    fit each other (``latent``: the network reads an autoencoder's latents of the data,
    which ``build`` checks)."""
    data = build_dataset(exp.data)
    loop.check_compatible(exp.model, data, check_shape=not latent)
    if exp.lora.rank and not exp.train.init_from:
        raise ConfigError("lora.rank: LoRA adapts a trained run; name it in train.init_from")
    if exp.lora.rank and getattr(exp.model, "arch", "") == "controlnet":
        raise ConfigError(
            "lora.rank: a ControlNet trains its copy in full; LoRA adapts a plain network"
        )
    loop.seed_init(exp.seed)
    model = build(exp)
    if exp.train.init_from and not resume:
        base = Path(exp.train.init_from)
        if not base.is_dir():
            raise CheckpointError(f"train.init_from: {base} is not a run directory")
        theirs = _stored(base)
        if exp.model.arch == "controlnet" and theirs.get("model", {}).get("arch") == "controlnet":
            raise ConfigError(
                f"train.init_from: {base} is a ControlNet run; name the base U-Net run it "
                "steers (a ControlNet's copy starts from its base's encoder)"
            )
        if (theirs.get("lora") or {}).get("rank"):
            raise ConfigError(
                f"train.init_from: {base} is a LoRA run; name its base run (and add the "
                f"adapter when sampling: --lora {base})"
            )
        new = warm_start(model, base / "ema.safetensors")
        copy_base = getattr(getattr(model, "net", model), "copy_base_", None)
        if copy_base is not None:  # a ControlNet starts its copy from the loaded encoder
            missing = [k for k in new if not k.startswith("controlnet.")]
            if missing:
                raise CheckpointError(
                    f"train.init_from: {base} lacks {len(missing)} base tensor(s) of this "
                    f"network (first: {missing[0]}); a ControlNet's model.* must match "
                    "its base run's U-Net"
                )
            copy_base()
        warn_objective_change(exp, base)
        if len(new) > 6:  # e.g. a whole ControlNet: name the modules, not every tensor
            heads = sorted({".".join(k.split(".")[:1]) + ".*" for k in new})
            new = [f"{len(new)} tensors under {', '.join(heads)}"]
        print(
            f"initialised from {exp.train.init_from}"
            + (f"; new parameters: {', '.join(new)}" if new else ""),
            flush=True,
        )
    if exp.lora.rank:  # after the base weights: B = 0 keeps the base's output
        add_lora(model, exp.lora)
        n_lora, n_base = trainable_fraction(model)
        print(f"LoRA rank {exp.lora.rank}: {n_lora:,} trainable parameters, "
              f"{n_lora / n_base:.1%} of the frozen {n_base:,}", flush=True)  # fmt: skip
    return data, model


_HELDOUT: dict = {}  # repr(held-out data config) -> Dataset, the last one built


def _heldout(exp: Experiment) -> Dataset:
    cfg = heldout_config(exp.data)[0]
    if repr(cfg) not in _HELDOUT:
        _HELDOUT.clear()
        _HELDOUT[repr(cfg)] = build_dataset(cfg)
    return _HELDOUT[repr(cfg)]


def heldout_classes(exp: Experiment) -> set[int]:
    """The classes the held-out images of ``exp.data`` have (:func:`heldout_images`)."""
    data = _heldout(exp)
    return set(data.cond["class"].unique().tolist()) if "class" in data.cond else set()


def heldout_captions(exp: Experiment) -> list[str]:
    """The captions of the held-out images of ``exp.data`` ([] for data without them)."""
    return list(_heldout(exp).captions or [])


def heldout_attributes(exp: Experiment, index: list[int]) -> dict[str, Tensor]:
    """``{attribute: (n,)}`` labels of held-out images ``index`` (modulo their number), for
    data with attributes (``shapes``: shape, color, size, position); ``{}`` otherwise."""
    data = _heldout(exp)
    rows = torch.tensor(index, dtype=torch.int64) % len(data.x)
    return {a: data.cond[a][rows] for a in (data.attributes or {}) if a in data.cond}


def heldout_images(exp: Experiment, seeds: list[int], key: int, cls: int | None = None) -> Tensor:
    """``(n, *shape)`` held-out images (``genlab.data.heldout_config``: never trained on),
    image ``i`` picked by ``keyed(seeds[i], key)`` among all of them, or among those of
    class ``cls``. What a run that reads an image (a translation's source, a ControlNet's
    control) samples from when none is given. The last data set built is kept.

    Raises:
        ConfigError: no held-out image of class ``cls``.
    """
    data = _heldout(exp)
    x = data.x if cls is None else data.x[data.cond["class"] == cls]
    if not len(x):
        raise ConfigError(f"{exp.data.name}: no held-out images of class {cls}")
    pick = [int(torch.randint(len(x), (), generator=keyed(s, key))) for s in seeds]
    return x[pick]


def made_from(name: str, x: Tensor, seeds: list[int], key: int) -> Tensor:
    """``genlab.data.pairs`` source ``name`` of each image ``x[i]`` ``(n, C, *S)``, drawn
    (``break``) from ``keyed(seeds[i], key)``: a sample's input depends on its seed alone."""
    return torch.cat([make_source(name, x[i : i + 1], keyed(s, key)) for i, s in enumerate(seeds)])


def _stored(run: Path) -> dict:
    """A run's config.yaml as a plain dict ({} if unreadable)."""
    import genlab.config as C

    try:
        raw = C.load_yaml(run / "config.yaml")
    except (OSError, GenlabError):
        return {}
    return raw if isinstance(raw, dict) else {}


def warn_objective_change(exp: Experiment, base: Path) -> None:
    """Warn when ``train.init_from`` names a run trained for another objective (another
    kind, path or prediction target): its weights start from a different function."""
    import warnings

    theirs = _stored(base).get("objective", {})
    ours = vars(exp.objective)
    diff = [k for k in ("kind", "path", "target") if k in theirs and theirs[k] != ours.get(k)]
    if diff:
        pairs = ", ".join(f"{k} {theirs[k]!r} -> {ours.get(k)!r}" for k in diff)
        msg = f"train.init_from: {base} was trained with another objective ({pairs})"
        warnings.warn(msg, stacklevel=2)


def class_rows(num_classes: int, n: int) -> tuple[dict, int]:
    """Conditioning for a preview grid: one row per class (or none), and the row width."""
    if not num_classes:
        return {}, max(1, math.ceil(math.sqrt(n)))
    per = max(1, n // num_classes)
    label = torch.arange(num_classes).repeat_interleave(per)
    return {"class": label}, per


def class_preview(sample: SampleFn, exp: Experiment) -> loop.PreviewFn:
    """A preview of ``exp.train.num_samples`` samples drawn with the run's sampler
    settings, one row per class for a class-conditional network."""

    def preview(model: nn.Module) -> tuple[Tensor, int]:
        cond, nrow = class_rows(getattr(exp.model, "num_classes", 0), exp.train.num_samples)
        n = len(cond["class"]) if cond else exp.train.num_samples
        cond = to_device(cond, next(model.parameters()).device)
        return sample(model, exp, list(range(n)), cond, exp.sampler).cpu(), nrow

    return preview


def fit_one_objective(
    exp: Experiment,
    run_dir: Path,
    resume: bool,
    *,
    build: Callable[[Experiment], nn.Module],
    loss: loop.LossFn,
    cond_keys: tuple[str, ...],
    preview: Callable[[Experiment, Dataset], loop.PreviewFn],
    latent: bool = False,
) -> Path:
    """Train ``build(exp)`` with ``loss`` in the one-objective loop (``latent``: see
    :func:`prepare`)."""
    data, model = prepare(exp, build, resume, latent)
    return loop.fit(
        run_dir,
        exp.train,
        exp.seed,
        model,
        loss,
        data,
        cond_keys=cond_keys,
        preview=preview(exp, data),
        resume=resume,
    )


def rollout_window(family: Family, exp: Experiment, total: int, context: int = 0):
    """``(window, context)`` of a rollout of a run's clips to ``total`` frames, checked
    (before anything is sampled): the run's window ``T`` and the known frames per window
    (``context``; 0: ``objective.context_frames``, else ``T // 2``, for diffusion forcing
    rounded down to whole temporal patches).

    Raises:
        ConfigError: not a pixel-space video run of a family that inpaints, ``total``
            shorter than the window, ``context`` outside ``[1, T - 1]``, or (diffusion
            forcing) not a multiple of the temporal patch.
    """
    name = exp.recipe or "this run"
    made = DATASETS[exp.data.name].modality
    if made != "video":
        raise ConfigError(f"--frames: {name} makes {made}, not video")
    if family.edit is None or getattr(exp.objective, "autoencoder", ""):
        raise ConfigError(
            f"--frames: {name} cannot continue a clip; rolling out takes a pixel-space "
            "video diffusion or flow run (dit-moving-mnist, ...)"
        )
    window = exp.model.input_shape()[1]
    if total < window:
        raise ConfigError(f"--frames: {total} is fewer than the run's window of {window} frames")
    # diffusion forcing: the known frames are whole temporal patches (one time each)
    block = exp.model.temporal_patch if getattr(exp.objective, "diffusion_forcing", False) else 1
    context = context or getattr(exp.objective, "context_frames", 0) or window // 2 // block * block
    if not 0 < context < window:
        raise ConfigError(f"--context: must be in [1, {window - 1}] for the run's {window} frames")
    if context % block:
        raise ConfigError(
            f"--context: {context} known frames split a temporal patch of {block} frames in "
            f"this diffusion forcing run; give a multiple of {block}"
        )
    return window, context


def continue_video(
    family: Family,
    model: nn.Module,
    exp: Experiment,
    first: torch.Tensor,
    total: int,
    seeds: list[int],
    cond: dict,
    scfg,
    context: int = 0,
) -> torch.Tensor:
    """Extend clips ``first`` ``(n, C, T_0, H, W)`` to ``total`` frames, window by window
    (:func:`genlab.sampling.video.rollout`), each window inpainted by ``family.edit``
    (the run's family) with the last ``context`` frames known (0: the run's
    ``objective.context_frames``, else half its window); window ``k`` draws from
    ``keyed(seed, k)``. Returns ``(n, C, total, H, W)`` on the CPU.

    Raises:
        ConfigError: as :func:`rollout_window`.
    """
    window, context = rollout_window(family, exp, total, context)
    dev = next(model.parameters()).device

    def fill(x, mask, k):
        return family.edit(model, exp, seeds, cond, scfg, x, mask, key=(k,))

    return rollout(fill, first.to(dev), total, window, context).cpu()
