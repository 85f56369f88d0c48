"""``genlab edit``: inpainting, outpainting and SDEdit of image files with a trained
diffusion or flow run (or a distilled student), training-free; and translation of an
image file with a Pix2Pix or CycleGAN run.

The image must have the run's size and channel count (``genlab sample RUN --n 1 --out
x.png`` writes one); a mask is a picture of the same size whose white pixels (> 127 after
conversion to grey) are regenerated. The methods are the pure functions of
:mod:`genlab.sampling.edit`; this module reads and checks the files, runs them through the
run's sampler settings (``--sampler``, ``--steps``, ``--cfg``, ``sampler.*=``) and returns
the results. Errors are one :class:`~genlab.errors.GenlabError` naming the file or option.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from PIL import ImageOps
from torch import Tensor

from genlab.data import DATASETS
from genlab.data.folder import open_picture, pixels, read_picture
from genlab.errors import ConfigError, DataError, GenlabError
from genlab.families import family_of
from genlab.families.base import made_from
from genlab.families.diffusion import control_channels, text_cond
from genlab.runs import class_cond, control_cond, guidance_asked, load_model, sampler_config
from genlab.sampling.edit import SIDES, extend_canvas, outpaint

MAX_EXTEND = 4  # outpainting: at most this many times the image's side per side
_OWN_CONTROL_KEY = 0xED17C  # a ControlNet edit's default control: the input's own, by seed


def read_mask(path: str | Path, size: tuple[int, int]) -> Tensor:
    """The mask at ``path`` as ``(1, 1, H, W)`` float {0, 1}: 1 (regenerate) where its grey
    value is above half of white, as Stable Diffusion's inpainting masks; a transparent
    pixel counts as black (kept). Upright by its EXIF orientation, as the image is.

    Raises:
        DataError: a missing or unreadable file, another size than ``size`` ``(H, W)``, or
            a mask with no white pixel (nothing to regenerate).
    """
    path = Path(path)
    with open_picture(path, "mask") as im:
        ImageOps.exif_transpose(im, in_place=True)  # as read_picture turns the image
        if (im.height, im.width) != tuple(size):
            raise DataError(
                f"{path}: the mask is {im.width}x{im.height} pixels but the image is "
                f"{size[1]}x{size[0]}"
            )
        a, white = pixels(im, 1, 0.0, path)
    m = torch.from_numpy((a[..., 0] > white / 2).astype(np.float32))
    if not bool(m.any()):
        raise DataError(f"{path}: the mask has no white pixel, so nothing would be regenerated")
    return m[None, None]


def parse_extend(items: list[str] | None) -> dict[str, int]:
    """``["left=8", "top=4,bottom=2"]`` -> ``{"left": 8, "top": 4, "bottom": 2}``.

    Raises:
        ConfigError: an unknown side, a value that is not a non-negative integer, a side
            given twice, or nothing to extend.
    """
    out: dict[str, int] = {}
    for part in ",".join(items or []).split(","):
        if not part.strip():
            continue
        side, _, value = part.partition("=")
        side = side.strip()
        if side not in SIDES:
            raise ConfigError(f"--extend: unknown side {side!r}; use {', '.join(SIDES)}=PIXELS")
        if side in out:
            raise ConfigError(f"--extend: {side} given twice")
        if not value.strip().isdigit():
            raise ConfigError(f"--extend: {side}={value!r} is not a whole number of pixels")
        out[side] = int(value)
    if not any(out.values()):
        raise ConfigError("--extend: give at least one side and a positive size, e.g. left=8")
    return out


def option_error(message: str) -> str:
    """A ``ValueError`` of :mod:`genlab.sampling.edit` as one line naming the option."""
    for prefix, flag in (("strength", "--strength"), ("steps", "--steps")):
        if message.startswith(prefix):
            return f"{flag}: {message.removeprefix('steps: ')}"
    if message.startswith("jump_length"):
        return f"--jump-length: {message}"
    return f"genlab edit: {message}"


def edit_cond(exp, n: int, cls: int | None, guided: bool) -> dict:
    """The condition of ``n`` edits: ``cls`` for every one, or on a class-conditional run
    without ``--class`` its null class (the known pixels alone then steer the result; the
    run's stored guidance is dropped), which needs a run trained with
    ``objective.cond_drop > 0``. ``guided``: the user asked for ``--cfg`` explicitly.

    Raises:
        ConfigError: ``--class`` out of range or on an unconditional run; no ``--class`` on
            a run without a trained null class, or with an explicit ``--cfg``.
    """
    k = getattr(exp.model, "num_classes", 0)
    if cls is not None or not k:
        return class_cond(k, n, cls)[0]
    if guided:
        raise ConfigError("--cfg: guidance needs a class to steer towards; give --class")
    if not getattr(exp.objective, "cond_drop", 0):
        raise ConfigError(
            "--class: this run is class-conditional and never learned the null class "
            "(objective.cond_drop = 0); give --class"
        )
    return {"class": torch.full((n,), k, dtype=torch.int64)}


def check_editable(exp, run_dir: str | Path) -> None:
    """Raise ``ConfigError`` unless ``exp`` (a run's experiment) is one ``genlab edit``
    can edit: a diffusion or flow run on images, a distilled student of one, or a
    translation run."""
    family = family_of(exp.objective.kind)
    translates = family.translate is not None
    if not translates and (family.edit is None or DATASETS[exp.data.name].modality != "image"):
        raise ConfigError(
            f"genlab edit: {run_dir} is a {family.name} run on {exp.data.name}; editing needs "
            "a diffusion or flow run on images (or a distilled student of one), or a "
            "Pix2Pix / CycleGAN run"
        )


def edit(
    run_dir: str | Path,
    image: str | Path,
    *,
    mask: str | Path | None = None,
    extend: dict[str, int] | None = None,
    strength: float | None = None,
    n: int = 1,
    seed: int = 0,
    cls: int | None = None,
    prompt: str | None = None,
    control: str | Path | None = None,
    jump_length: int | None = None,
    resample: int | None = None,
    weights: str = "ema",
    device: str | torch.device = "cpu",
    overrides: list[str] = (),
    accept_changed: bool = False,
    batch: int = 0,
    lora: list[str] = (),
    **sampler_fields,
) -> tuple[Tensor, Tensor, Tensor]:
    """Edit one image ``n`` times (result ``i`` uses seed ``seed + i``).

    With ``mask``: inpaint its white pixels (from ``strength`` if below 1). With
    ``extend``: outpaint, returning ``(n, C, H + top + bottom, W + left + right)``. With
    neither: SDEdit the whole image at ``strength``. A translation run (Pix2Pix,
    CycleGAN) translates the image instead (``n = 1``, no mask, strength or class).
    ``jump_length, resample`` set RePaint resampling (``resample`` None or 1: plain
    replacement; ``jump_length`` defaults to 10 steps and needs ``resample > 1`` and known
    pixels).
    ``sampler_fields``: ``name``, ``steps``, ``cfg`` as ``genlab sample``; ``batch`` edits
    at a time (0: all); ``lora``: adapters to add, ``PATH[:SCALE]`` each.

    Returns:
        ``(results, input (1, C, H, W), mask (1, 1, H', W'))``; the mask marks the pixels
        that were regenerated (None for a translation, which makes every pixel anew).

    Raises:
        ConfigError: a bad option (strength outside (0, 1], mask with extend, a prompt or
            class the run cannot take, a family that cannot edit, a mask or strength for a
            translation run).
        DataError: a bad image or mask file (``genlab.data.folder.read_picture``,
            :func:`read_mask`).
    """
    if n < 1:
        raise ConfigError(f"--n: must be at least 1, got {n}")
    if strength is not None and not 0 < strength <= 1:
        raise ConfigError(f"--strength: must be in (0, 1], got {strength}")
    if mask is not None and extend:
        raise ConfigError("--mask and --extend: give one (outpainting makes its own mask)")
    if extend and strength not in (None, 1.0):
        raise ConfigError("--strength: outpainting generates new pixels from noise; drop it")
    if resample is not None and resample < 1:
        raise ConfigError(f"--resample: must be at least 1 (1: no resampling), got {resample}")
    exp, model = load_model(Path(run_dir), weights, device, accept_changed, lora)
    family = family_of(exp.objective.kind)
    if family.translate is not None:
        given = dict(
            mask=mask, extend=extend, strength=strength, cls=cls, prompt=prompt, control=control
        )
        flags = [f"--{k.replace('cls', 'class')}" for k, v in given.items() if v is not None]
        if resample is not None:
            flags.append("--resample")
        if jump_length is not None:
            flags.append("--jump-length")
        if flags:
            other = (
                " (sampler.direction=b2a: the other way)"
                if exp.objective.kind == "cyclegan"
                else ""
            )
            raise ConfigError(
                f"{', '.join(flags)}: {run_dir} is a {exp.objective.kind} run; it translates "
                f"the whole image{other}"
            )
        if n != 1:
            raise ConfigError(f"--n: translation is deterministic, one output per image (got {n})")
        scfg = sampler_config(exp, overrides, **sampler_fields)
        x_in = read_picture(image, tuple(exp.model.input_shape()))[None]
        if getattr(scfg, "sources", False):
            raise ConfigError("sampler.sources: genlab edit translates the given image")
        out = family.translate(model, exp, x_in.to(device), scfg.direction).cpu()
        return out, x_in, None
    resample = 1 if resample is None else resample
    if jump_length is not None and resample == 1:
        raise ConfigError("--jump-length: it sets RePaint's resampling; give --resample above 1")
    if resample > 1 and mask is None and not extend:
        raise ConfigError(
            "--resample: RePaint resamples around known pixels; give --mask or --extend "
            "(SDEdit of the whole image keeps none)"
        )
    jump_default, jump_length = jump_length is None, 10 if jump_length is None else jump_length
    if resample > 1 and jump_length < 1:
        raise ConfigError(f"--jump-length: must be at least 1, got {jump_length}")
    check_editable(exp, run_dir)
    if getattr(exp.objective, "autoencoder", ""):
        raise ConfigError(
            f"genlab edit: {run_dir} is a latent diffusion run (objective.autoencoder); "
            "editing works on pixel-space runs"
        )
    if mask is None and not extend and strength is None:
        raise ConfigError("genlab edit: give --mask (inpaint), --extend (outpaint) or --strength")
    if prompt is not None and not exp.text.encoder:
        raise ConfigError(
            f"--prompt: {run_dir} has no text conditioning (condition keys: "
            f"{', '.join(family.cond_keys(exp)) or 'none'}); use --class for class labels"
        )
    controlnet = exp.model.arch == "controlnet"
    if controlnet and extend:
        raise ConfigError(
            f"--extend: {run_dir} is a ControlNet run, whose control has the image's size; "
            "inpaint (--mask) or SDEdit (--strength) instead"
        )
    shape = tuple(exp.model.input_shape())
    for side, px in (extend or {}).items():
        size = shape[2] if side in ("left", "right") else shape[1]
        if px > MAX_EXTEND * size:
            raise ConfigError(
                f"--extend: {side}={px} is more than {MAX_EXTEND} x the image's {size} pixels; "
                "extend in several runs"
            )
    x_in = read_picture(image, shape)[None]
    m = read_mask(mask, shape[1:]) if mask is not None else torch.ones(1, 1, *shape[1:])
    scfg = sampler_config(exp, overrides, **sampler_fields)
    asked = guidance_asked(sampler_fields, list(overrides))
    if exp.text.encoder:  # a text run: the prompt, or the empty prompt (its null)
        if cls is not None:
            raise ConfigError(
                f"--class: {run_dir} is conditioned on text, not classes; give --prompt"
            )
        if prompt is None and scfg.negative_prompt:
            raise ConfigError(
                "--negative-prompt: steers away from it only with a prompt to steer towards; "
                "give --prompt"
            )
        if prompt is None and asked:
            raise ConfigError("--cfg: guidance needs a prompt to steer towards; give --prompt")
        cond = text_cond(exp, [prompt or ""] * n)
        if prompt is None:  # the empty prompt: no guidance of either kind
            scfg = dataclasses.replace(scfg, cfg=0.0, autoguidance="")
    else:
        cond = edit_cond(exp, n, cls, asked)
    if cls is None and "class" in cond:  # the null class: nothing to guide towards
        scfg = dataclasses.replace(scfg, cfg=0.0, autoguidance="")
    if control is not None:  # a ControlNet run: the picture to follow
        cond["control"] = control_cond(exp, control, n, run_dir)
    elif controlnet:  # by default the input's own control (its outlines, ...)
        own = made_from(exp.model.control, x_in, [seed], _OWN_CONTROL_KEY)
        cond["control"] = control_channels(exp, own).expand(n, -1, -1, -1)
    seeds = [seed + i for i in range(n)]
    kw = dict(jump_length=jump_length, resample=resample)

    def run(x: Tensor, mk: Tensor, s: float, key: tuple[int, ...] = ()) -> Tensor:
        chunks = []
        for lo in range(0, n, batch or n):
            hi = min(n, lo + (batch or n))
            c = {k: v[lo:hi].to(device) for k, v in cond.items()}
            try:
                y = family.edit(
                    model, exp, seeds[lo:hi], c, scfg, x[lo:hi], mk, strength=s, key=key, **kw
                )
            except ValueError as e:  # the options do not fit the grid (sampling/edit.py)
                message = option_error(str(e))
                if jump_default and message.startswith("--jump-length"):
                    message += " (10 is the default; set --jump-length)"
                raise ConfigError(message) from None
            chunks.append(y.cpu())
        return torch.cat(chunks)

    x = x_in.expand(n, *shape)
    if extend:
        out = outpaint(lambda w, mk, k: run(w, mk, 1.0, (k,)), x.clone(), extend, shape[1:])
        m = extend_canvas(x_in, extend)[1]
    else:
        out = run(x, m, 1.0 if strength is None else strength)
    bad = ~torch.isfinite(out.flatten(1)).all(1)
    if bool(bad.any()):
        raise GenlabError(f"{image}: editing gave non-finite values; nothing was written")
    return out, x_in, m


read_image = read_picture  # the name genlab.edit has always had
