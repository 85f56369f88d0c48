"""The diffusion / flow-matching family: the denoising objective on an affine path.

The network predicts the kind named by ``objective.target`` on the path
``objective.path`` (both stored in ``config.yaml``); samplers convert through the path,
so any sampler works with any trained run: ``genlab sample RUN --sampler dpmpp_2m
--steps 10 --cfg 2 --class 7``. ``--cfg`` is the guidance weight ``w`` of
``(1 + w) f(y) - w f(null)``; diffusers' ``guidance_scale`` is ``1 + w``.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.checkpoint import load_network
from genlab.cond import prompts
from genlab.data.pairs import make_source, to_channels
from genlab.errors import CheckpointError, ConfigError
from genlab.experiment import Experiment
from genlab.families.base import (
    Family,
    class_cond_keys,
    class_null_cond,
    class_preview,
    fit_one_objective,
    heldout_captions,
    heldout_classes,
    heldout_images,
    made_from,
)
from genlab.models import build_model
from genlab.objectives.denoise import denoising_loss
from genlab.objectives.masks import with_inpaint_cond
from genlab.paths import EDMPrecond, build_path
from genlab.paths.convert import convert
from genlab.rng import keyed
from genlab.sampling import SAMPLERS, make_grid
from genlab.sampling.configs import DiffusionSamplerConfig
from genlab.sampling.edit import inpaint
from genlab.sampling.guidance import autoguidance
from genlab.sampling.guidance import cfg as guided
from genlab.sampling.video import known_frames, known_frames_at

_CONTROL_KEY = 0xC0471  # a ControlNet run's held-out control images, by seed


def null_cond(exp: Experiment) -> dict:
    """The declared null of each condition key: the null class, the empty prompt."""
    return {**class_null_cond(exp), **prompts.null_cond(exp.text, exp.data)}


def cond_keys(exp: Experiment) -> tuple[str, ...]:
    """The network's condition keys: ``class`` and the text's (``genlab.cond.prompts``)."""
    return class_cond_keys(exp) + prompts.cond_keys(exp.text)


_MEL: dict = {}  # the MelAutoencoder of each loaded vocoder


def load_autoencoder(exp: Experiment, device="cpu") -> nn.Module | None:
    """The frozen autoencoder of a latent diffusion run (``objective.autoencoder``, its
    EMA weights, loaded once per process), or None for a pixel-space run. A vocoder run
    (``hifigan``) is the autoencoder of mel-spectrogram diffusion: the normalised log-mel
    in, its waveform out (``genlab.families.vocoder.MelAutoencoder``). A KL video
    autoencoder run (``video_vae``, ``model.quantizer=kl``) encodes clips ``(C, T, H, W)``
    to latents ``(C', T', h', w')`` (a ``dims=3`` network with ``model.frames=T'``).

    Raises:
        ConfigError: not a trained KL autoencoder run with a spatial latent, one whose
            training stopped before it measured its latent scale and shift, latents of
            another shape than the network takes, or images (clips) of another size
            (number of frames) than the data.
    """
    where = getattr(exp.objective, "autoencoder", "")  # a distilled student has none
    if not where:
        return None
    path = Path(where)
    if not (path / "config.yaml").is_file():
        raise ConfigError(
            f"objective.autoencoder: {path} is not a trained run (no config.yaml); train "
            f"one first, e.g. `genlab train klae-shapes --out {path}`"
        )
    import genlab.config as C

    stored = C.load_yaml(path / "config.yaml")
    model = stored.get("model") or {}  # before building it
    vocoder, video = model.get("arch") == "hifigan", model.get("arch") == "video_vae"
    if video and model.get("quantizer", "kl") != "kl":
        raise ConfigError(
            f"objective.autoencoder: {path} is a VQ video autoencoder (model.quantizer="
            f"{model.get('quantizer')}); latent diffusion needs its KL latent (quantizer=kl)"
        )
    if not (vocoder or video) and (model.get("arch") != "vae" or not model.get("spatial")):
        raise ConfigError(
            f"objective.autoencoder: {path} is a '{model.get('arch', '?')}' run without a "
            "spatial latent; latent diffusion needs a KL autoencoder (klae-*, "
            "video-klae-*) or, on mel spectrograms, a vocoder (hifigan-*)"
        )
    if not vocoder and (model.get("scale", 1.0), model.get("shift", 0.0)) == (1.0, 0.0):
        recipe = stored.get("recipe") or "RECIPE"
        raise ConfigError(
            f"objective.autoencoder: {path} has no measured latent scale and shift (a KL "
            "autoencoder measures them when its training finishes; this one stopped early "
            f"or was interrupted); finish it with `genlab train {recipe} --out {path} "
            "--resume train.stop_after=0`"
        )
    found = load_network(path, "ema", device)
    ae = found.model
    latent, takes = tuple(ae.latent_shape()), tuple(exp.model.input_shape())
    if latent != takes:
        hint = f"model.in_channels={latent[0]} model.image_size={latent[-1 if video else 1]}"
        if video:  # (C', T', h', w')
            hint += f" model.dims=3 model.frames={latent[1]}"
        elif len(latent) == 3 and latent[1] != latent[2]:  # a mel's (C', n_mels, frames)
            hint += f" model.frames={latent[2]}"
        raise ConfigError(
            f"model: {path}'s latents are {'x'.join(map(str, latent))} but the network takes "
            f"{'x'.join(map(str, takes))}; set {hint}"
        )
    if vocoder:
        have = (getattr(exp.data, "sample_rate", None), getattr(exp.data, "length", None))
        if have != (ae.sample_rate, ae.length):
            raise ConfigError(
                f"data: {path} vocodes {ae.length}-sample clips at {ae.sample_rate} Hz; "
                f"the data are {have[1]} samples at {have[0]} Hz"
            )
        from genlab.families.vocoder import MelAutoencoder

        key = ("mel", id(found.module))  # one wrapper per loaded vocoder
        if key not in _MEL:
            _MEL[key] = MelAutoencoder(ae, found.module).eval().to(device)
        return _MEL[key]
    size = getattr(exp.data, "image_size", ae.image_size)
    if size != ae.image_size:
        raise ConfigError(
            f"data.image_size: {size}, but {path} encodes {ae.image_size}-pixel images"
        )
    frames = getattr(exp.data, "frames", None) if video else None
    if frames is not None and frames != ae.frames:
        raise ConfigError(f"data.frames: {frames}, but {path} encodes {ae.frames}-frame clips")
    return found.module


def build(exp: Experiment) -> nn.Module:
    """The network, wrapped in EDM preconditioning when ``objective.precond=edm``, and
    with its trainable text encoder when ``text.encoder=words``; a latent run checks its
    autoencoder first.

    Raises:
        ConfigError: ``model.text_dim`` and ``text.encoder`` disagree, text on data
            without captions, a bad ``objective.autoencoder`` (:func:`load_autoencoder`),
            or an autoencoder with an inpainting or ControlNet network.
    """
    prompts.check(exp.text, exp.model, exp.data)
    if getattr(exp.objective, "autoencoder", ""):
        if exp.model.arch == "controlnet" or getattr(exp.model, "inpaint", False):
            raise ConfigError(
                "objective.autoencoder: latent diffusion works with a plain network; "
                "inpainting channels and ControlNets read pixel-space images"
            )
        load_autoencoder(exp)
    net = build_model(exp.model)
    o = exp.objective
    if o.precond == "edm":
        net = EDMPrecond(net, build_path(o.path), o.sigma_data)
    return prompts.wrap(net, exp.text, exp.data)


def loss(exp: Experiment):
    """The per-sample denoising loss of ``exp.objective`` (``objectives/denoise.py``), on
    the autoencoder's latents of each batch for a latent run (:func:`pixel_loss` for
    everything else)."""
    fn = pixel_loss(exp)
    if not getattr(exp.objective, "autoencoder", ""):
        return fn

    loaded: dict = {}  # device -> the autoencoder, checked and loaded once

    def latent_loss(model, batch: dict, generator: torch.Generator):
        """The same loss on ``encode(x)``: the normalised latents (posterior means, scaled
        by the autoencoder's stored scale and shift) of the batch's images."""
        device = batch["x"].device
        if device not in loaded:
            loaded[device] = load_autoencoder(exp, device)
        with torch.no_grad():
            z = loaded[device].encode(batch["x"])  # (B, *latent)
        return fn(model, {**batch, "x": z}, generator)

    return latent_loss


def forcing_block(exp: Experiment) -> int:
    """How many frames share one noise level in a diffusion forcing run: the DiT's
    temporal patch (its token frames each take their own time).

    Raises:
        ConfigError: ``objective.diffusion_forcing`` on a network without per-frame
            times (not a video DiT, joint text) or with inpainting channels.
    """
    m = exp.model
    dims, frames = getattr(m, "dims", 2), getattr(m, "frames", 0)
    if m.arch != "dit" or dims != 3 or not frames:
        raise ConfigError(
            "objective.diffusion_forcing: needs a video DiT (model.arch=dit, dims=3, frames "
            f"set), which takes one time per frame; got model.arch={m.arch}, dims={dims}, "
            f"frames={frames}"
        )
    if m.inpaint or (m.text_dim and m.text_conditioning == "joint"):
        raise ConfigError(
            "objective.diffusion_forcing: gives the known frames by their time; use it "
            "without model.inpaint and without joint text"
        )
    if exp.objective.autoencoder:
        raise ConfigError(
            "objective.diffusion_forcing: a latent run cannot predict or roll out (its "
            "frames are latent frames), so per-frame times would be of no use; train it "
            "on pixels"
        )
    return m.temporal_patch


def pixel_loss(exp: Experiment):
    """The per-sample denoising loss of ``exp.objective`` on the batch as given; for a
    text run the captions' encodings are its condition; for a trained inpainting network
    (``model.inpaint``) each sample also gets a random mask and its masked image as
    condition (``objectives/masks.py``)."""
    o = exp.objective
    plain = partial(
        denoising_loss,
        path=build_path(o.path),
        target=o.target,
        t_density=o.t_density,
        t_loc=o.t_loc,
        t_scale=o.t_scale,
        t_shift=o.t_shift,
        t_steps=o.t_steps,
        weighting=o.weighting,
        sigma_data=o.sigma_data,
        min_snr_gamma=o.min_snr_gamma,
        cond_drop=o.cond_drop,
        null_cond=null_cond(exp),
    )
    if o.masked_loss and not getattr(exp.model, "inpaint", False):
        raise ConfigError(
            "objective.masked_loss: needs an inpainting network; set model.inpaint=true"
        )
    if o.diffusion_forcing:
        plain = partial(plain, frame_block=forcing_block(exp))
    frames = getattr(exp.model, "frames", 0) if getattr(exp.model, "dims", 2) == 3 else 0
    if o.context_frames and frames and o.context_frames >= frames:
        raise ConfigError(
            f"objective.context_frames: {o.context_frames} known frames leave nothing to "
            f"generate in the model's {frames}-frame clips; use 1 to {frames - 1} (0: random)"
        )
    if exp.text.encoder:
        table = prompts.caption_table(exp.text, exp.data)  # every caption, encoded once

        def text_loss(model, batch: dict, generator: torch.Generator):
            """The same loss with each image's caption as its text condition (rows of
            the run's caption cache, looked up by the data's ``caption`` index)."""
            cond = {k: v for k, v in batch["cond"].items() if k != "caption"}
            cond.update(prompts.from_captions(table, batch["cond"]["caption"]))
            return plain(model, {**batch, "cond": cond}, generator)

        return text_loss
    if exp.model.arch == "controlnet":

        def control_loss(model, batch: dict, generator: torch.Generator):
            """The same loss with each image's control (its outlines, ...) as
            ``cond["control"]`` (``genlab.data.pairs``)."""
            control = control_channels(exp, make_source(exp.model.control, batch["x"], generator))
            batch = {**batch, "cond": {**batch["cond"], "control": control}}
            return plain(model, batch, generator)

        return control_loss
    if not getattr(exp.model, "inpaint", False):
        return plain

    def inpaint_loss(model, batch: dict, generator: torch.Generator):
        """The same loss with a random mask and masked image in each sample's condition
        (``genlab.objectives.masks``)."""
        cond_batch = with_inpaint_cond(batch, generator, context=o.context_frames)
        return plain(model, cond_batch, generator, masked=o.masked_loss)

    return inpaint_loss


def sampler_options(scfg: DiffusionSamplerConfig) -> dict:
    """The sampler-specific keywords of ``scfg.name``."""
    if scfg.name == "ddim":
        return {"eta": scfg.eta}
    if scfg.name == "heun":
        return {"churn": scfg.churn}
    return {}


def velocity_field(model: nn.Module, exp: Experiment):
    """The network as a velocity callable ``v(x, t, cond) = dx_t/dt`` whatever kind it
    predicts (``objective.target``), for ODE likelihoods and custom integrators."""
    kind = exp.objective.target
    if kind == "velocity":
        return model
    path = build_path(exp.objective.path)

    def v(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        return convert(path, model(x, t, cond), kind, "velocity", x, t)

    return v


def check_forcing_sampler(exp: Experiment, scfg: DiffusionSamplerConfig) -> None:
    """Refuse what a diffusion forcing run's prediction or rollout cannot do (before any
    sampling): autoguidance (its guide would not see the known frames at their time) and
    clean known frames under EDM preconditioning (its ``c_noise = log(sigma) / 4`` is
    ``-inf`` at ``t = 0``).

    Raises:
        ConfigError: naming the sampler key.
    """
    if scfg.autoguidance:
        raise ConfigError(
            "sampler.autoguidance: not with a diffusion forcing run's known frames (the "
            "guide would not see them at their time); use --cfg with a condition"
        )
    if exp.objective.precond == "edm" and scfg.context_noise == 0:
        raise ConfigError(
            "sampler.context_noise: EDM preconditioning cannot take clean frames (log "
            "sigma = -inf at t = 0); give the known frames a little noise, e.g. 0.002"
        )


def guided_model(model: nn.Module, exp: Experiment, cond: dict, scfg: DiffusionSamplerConfig):
    """The callable the samplers step: ``model`` with classifier-free guidance ``scfg.cfg``
    (its interval and rescale) when there is a condition to guide, or with autoguidance
    against ``scfg.autoguidance``'s network (:func:`load_guide`).

    Raises:
        ConfigError: ``sampler.context_noise`` on a run without diffusion forcing (it
            would do nothing), or a negative prompt it cannot use.
    """
    if scfg.context_noise and not getattr(exp.objective, "diffusion_forcing", False):
        raise ConfigError(
            "sampler.context_noise: only a diffusion forcing run (objective."
            "diffusion_forcing) gives its known frames a time of their own"
        )
    if scfg.autoguidance:
        guide = load_guide(exp, scfg.autoguidance, next(model.parameters()).device)
        return autoguidance(model, guide, scfg.cfg, (scfg.guidance_lo, scfg.guidance_hi))
    if scfg.negative_prompt and not exp.text.encoder:
        raise ConfigError(
            "--negative-prompt: this run has no text conditioning (text.encoder is not set)"
        )
    if scfg.cfg and cond:
        interval = (scfg.guidance_lo, scfg.guidance_hi)
        null = null_cond(exp)
        if scfg.negative_prompt:  # in the empty prompt's place (Stable Diffusion)
            null.update(prompts.negative_null(exp.text, exp.data, scfg.negative_prompt))
        return guided(model, scfg.cfg, null, interval, scfg.guidance_rescale)
    if scfg.negative_prompt:
        raise ConfigError(
            "--negative-prompt: replaces the null prompt of guidance; give --cfg above 0"
        )
    return model


# the model settings a guide must share with the run: what goes in and what comes out
_GUIDE_MODEL_KEYS = ("arch", "in_channels", "out_channels", "num_classes", "inpaint", "control",
                     "control_channels", "text_dim")  # fmt: skip


def load_guide(exp: Experiment, where: str, device) -> nn.Module:
    """The weaker network of autoguidance: a run directory or one of a run's kept
    checkpoints (``RUN/checkpoints/step_N``), EMA weights, frozen. It must be a network
    for the same task: the same family, data, data shape, ``objective.path``, ``target``,
    ``precond`` and ``autoencoder``, the same network inputs (``model.arch``, classes,
    inpainting channels, control, text width) and text encoder (for a trained one, its
    vocabulary: the same data settings). Its width and depth may differ.

    Raises:
        ConfigError: ``where`` is not a run or a checkpoint, or it differs in one of
            those (the message names the key).
    """
    import genlab.config as C

    path = Path(where)
    kept = path.parent.name == "checkpoints"  # RUN/checkpoints/step_N: RUN's config
    try:
        found = load_network(path, "ema", device, config_from=path.parent.parent if kept else None)
    except (CheckpointError, ConfigError) as e:
        raise ConfigError(f"sampler.autoguidance: {e}") from None
    raw = found.config

    def refuse(key: str, theirs, ours) -> None:
        raise ConfigError(
            f"sampler.autoguidance: {where} has {key} {theirs!r}, this run {ours!r}; the "
            "guiding network must be one for the same task"
        )

    objective = raw.get("objective") or {}
    if objective.get("kind") != exp.objective.kind:
        refuse("objective.kind", objective.get("kind"), exp.objective.kind)
    o = C.from_dict(type(exp.objective), objective, "objective")  # defaults filled
    for key in ("path", "target", "precond"):
        if getattr(o, key) != getattr(exp.objective, key):
            refuse(f"objective.{key}", getattr(o, key), getattr(exp.objective, key))
    ae = [str(Path(a).resolve()) if a else "" for a in (o.autoencoder, exp.objective.autoencoder)]
    if ae[0] != ae[1]:
        refuse("objective.autoencoder", o.autoencoder, exp.objective.autoencoder)
    data = raw.get("data") or {}
    if data.get("name") != exp.data.name:
        refuse("data.name", data.get("name"), exp.data.name)
    if tuple(found.model.input_shape()) != tuple(exp.model.input_shape()):
        refuse("data shape", tuple(found.model.input_shape()), tuple(exp.model.input_shape()))
    for key in _GUIDE_MODEL_KEYS:
        theirs, ours = getattr(found.model, key, None), getattr(exp.model, key, None)
        if theirs != ours:
            refuse(f"model.{key}", theirs, ours)
    text = C.from_dict(type(exp.text), raw.get("text") or {}, "text")
    if text != exp.text:
        refuse("text", dataclasses.asdict(text), dataclasses.asdict(exp.text))
    if text.encoder in ("words", "attributes"):  # its vocabulary comes from the data
        theirs = C.from_dict(type(exp.data), data, "data")
        if theirs != exp.data:
            refuse("data (the text encoder's vocabulary)", data, dataclasses.asdict(exp.data))
    return found.module


def initial_noise(exp: Experiment, gens: list[torch.Generator]) -> Tensor:
    """``(n, *shape)`` unit noise, row ``i`` the first draw of ``gens[i]``."""
    return torch.stack([torch.randn(exp.model.input_shape(), generator=g) for g in gens])


def with_control(exp: Experiment, seeds: list[int], cond: dict, device) -> dict:
    """``cond`` with ``"control"`` for a ControlNet run that was given none: the control
    of held-out image ``keyed(seeds[i], ...)`` (:func:`~genlab.families.base.heldout_images`)
    made as in training; ``cond`` itself for other runs."""
    if exp.model.arch != "controlnet" or "control" in cond:
        return cond
    x = torch.empty(len(seeds), *exp.model.input_shape())
    labels = cond.get("class")
    k = getattr(exp.model, "num_classes", 0)
    known = heldout_classes(exp)
    for c in labels.unique().tolist() if labels is not None else [None]:
        # a sample of class c follows an image of class c where there is one (a class the
        # data leaves out, like the null class, follows any image)
        rows = (labels == c).nonzero().squeeze(1).tolist() if c is not None else range(len(x))
        cls = c if c is not None and c < k and c in known else None
        x[list(rows)] = heldout_images(exp, [seeds[i] for i in rows], _CONTROL_KEY, cls)
    control = made_from(exp.model.control, x, seeds, _CONTROL_KEY)
    return {**cond, "control": control_channels(exp, control).to(device)}


def control_channels(exp: Experiment, control: Tensor) -> Tensor:
    """A ControlNet's control ``(B, C, *S)`` with ``model.control_channels`` channels
    (1: its brightness, ``genlab.data.pairs.to_channels``)."""
    return to_channels(control, exp.model.control_channels or exp.model.in_channels)


@torch.no_grad()
def sample(
    model: nn.Module,
    exp: Experiment,
    seeds: list[int],
    cond: dict,
    scfg: DiffusionSamplerConfig,
    noise: Tensor | None = None,
    decode: bool = True,
) -> Tensor:
    """``(n, *shape)`` samples; sample ``i`` uses only the generator ``keyed(seeds[i])``
    (its initial noise first, then any per-step noise). ``noise`` ``(n, *shape)``, unit
    variance, replaces the initial draws (which are still taken, so per-step noise is
    unchanged). A latent run's samples are decoded unless ``decode`` is False."""
    device = next(model.parameters()).device
    cond = with_control(exp, seeds, cond, device)
    path = build_path(exp.objective.path)
    grid = make_grid(scfg.grid, scfg.steps, path, rho=scfg.rho, shift=scfg.shift)
    gens = [keyed(s) for s in seeds]
    x = initial_noise(exp, gens)
    if noise is not None:
        x = noise.to(x).reshape(x.shape)
    x = x.to(device) * float(path.sigma(grid[:1]))  # the prior at grid[0]
    x = SAMPLERS[scfg.name](
        guided_model(model, exp, cond, scfg),
        x,
        grid,
        path=path,
        kind=exp.objective.target,
        cond=cond,
        generators=gens,
        **sampler_options(scfg),
    )
    ae = load_autoencoder(exp, device) if decode else None
    if decode and getattr(scfg, "decoder", "autoencoder") == "griffin-lim":
        if not hasattr(ae, "griffin_lim"):
            raise ConfigError(
                "sampler.decoder: griffin-lim decodes mel spectrograms; this run's "
                "objective.autoencoder is not a vocoder"
            )
        return ae.griffin_lim(x).clamp(-1.0, 1.0)
    return x if ae is None else ae.decode(x).clamp(-1.0, 1.0)  # latents -> images


@torch.no_grad()
def edit(
    model: nn.Module,
    exp: Experiment,
    seeds: list[int],
    cond: dict,
    scfg: DiffusionSamplerConfig,
    x_in: Tensor,
    mask: Tensor,
    *,
    strength: float = 1.0,
    jump_length: int = 10,
    resample: int = 1,
    key: tuple[int, ...] = (),
    replace: bool | None = None,
) -> Tensor:
    """Inpaint ``x_in`` ``(n, *shape)`` where ``mask`` (broadcastable, 1 = regenerate) is
    set, SDEdit-style from ``strength`` and with RePaint resampling when ``resample > 1``
    (:func:`genlab.sampling.edit.inpaint`). Sample ``i`` uses only the generator
    ``keyed(seeds[i], *key)``; with ``key = ()``, ``strength = 1`` and a full mask it is
    :func:`sample` exactly.

    A trained inpainting network (``model.inpaint``) is given the mask and the masked
    image as its condition and, by default (``replace=None``), no replacement; other
    networks get replacement. ``replace`` forces either. A diffusion forcing run
    (``objective.diffusion_forcing``) is given the known frames at time
    ``scfg.context_noise`` (:func:`genlab.sampling.video.known_frames_at`), with no
    replacement.

    Raises:
        ConfigError: a latent diffusion run (its mask would need the latent grid); a
            diffusion forcing run given a mask that keeps part of a frame.
    """
    if getattr(exp.objective, "autoencoder", ""):
        raise ConfigError(
            f"genlab edit: {exp.recipe or 'this run'} is a latent diffusion run "
            f"(objective.autoencoder); editing works on pixel-space runs"
        )
    device = next(model.parameters()).device
    cond = with_control(exp, seeds, cond, device)
    trained = getattr(exp.model, "inpaint", False)
    if trained:
        m = mask.to(x_in).expand(len(x_in), 1, *x_in.shape[2:])
        cond = {**cond, "mask": m.to(device), "image": (x_in * (1 - m)).to(device)}
    path = build_path(exp.objective.path)
    grid = make_grid(scfg.grid, scfg.steps, path, rho=scfg.rho, shift=scfg.shift)
    gens = [keyed(s, *key) for s in seeds]
    eps = initial_noise(exp, gens).to(device)
    net = model
    if getattr(exp.objective, "diffusion_forcing", False):  # the known frames by their time
        check_forcing_sampler(exp, scfg)
        try:  # whole temporal patches: the frames of one token frame share a time
            known = known_frames(mask, x_in.shape[2], exp.model.temporal_patch)
        except ValueError as e:
            raise ConfigError(f"{exp.recipe or 'this run'} (diffusion forcing): {e}") from None
        net = known_frames_at(model, path, x_in.to(device), known, scfg.context_noise, eps)
        trained = True  # no replacement: the network reads the known frames itself
    return inpaint(
        guided_model(net, exp, cond, scfg),
        x_in.to(device),
        mask.to(device),
        grid,
        eps,
        sampler=SAMPLERS[scfg.name],
        strength=strength,
        jump_length=jump_length,
        resample=resample,
        replace=not trained if replace is None else replace,
        path=path,
        kind=exp.objective.target,
        cond=cond,
        generators=gens,
        **sampler_options(scfg),
    )


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train the denoiser in the one-objective loop (a ControlNet: only its trainable copy,
    on a base loaded from ``train.init_from``)."""
    if exp.model.arch == "controlnet" and not exp.train.init_from:
        raise ConfigError(
            "train.init_from: a ControlNet steers a trained base; give the base run "
            "(e.g. train.init_from=runs/rf-mnist)"
        )
    if exp.text.encoder:
        prompts.check(exp.text, exp.model, exp.data)  # before the caption cache is built
    load_autoencoder(exp)  # first: the network's initialisation must not depend on it
    return fit_one_objective(
        exp,
        run_dir,
        resume,
        latent=bool(exp.objective.autoencoder),
        build=build,
        loss=loss(exp),
        cond_keys=class_cond_keys(exp) + (("caption",) if exp.text.encoder else ()),
        preview=lambda exp, data: (
            text_preview(exp) if exp.text.encoder else class_preview(sample, exp)
        ),
    )


def heldout_prompts(exp: Experiment, index: list[int]) -> list[str]:
    """The captions of held-out images ``index`` (modulo their number; the data of
    ``genlab.data.heldout_config``, never trained on): the prompts of a text run's
    previews, of ``genlab sample`` without ``--prompt`` and of ``genlab eval``."""
    captions = heldout_captions(exp)
    if not captions:
        raise ConfigError(f"{exp.data.name}: the held-out data has no captions")
    return [captions[i % len(captions)] for i in index]


def text_cond(exp: Experiment, texts: list[str], device=None) -> dict:
    """The condition of ``texts`` for a text run (``genlab.cond.prompts.prompt_cond``)."""
    cond = prompts.prompt_cond(exp.text, exp.data, texts)
    return {k: v.to(device) for k, v in cond.items()} if device is not None else cond


def text_preview(exp: Experiment):
    """A text run's preview: ``train.num_samples`` held-out captions, one sample each."""

    def preview(model: nn.Module) -> tuple[Tensor, int]:
        n = exp.train.num_samples
        cond = text_cond(exp, heldout_prompts(exp, list(range(n))), next(model.parameters()).device)
        return sample(model, exp, list(range(n)), cond, exp.sampler).cpu(), max(1, int(n**0.5))

    return preview


FAMILY = Family(
    name="diffusion",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=null_cond,
    dependencies=lambda exp: (
        {"objective.autoencoder": (exp.objective.autoencoder, "ema")}
        if exp.objective.autoencoder
        else {}
    ),
    doc="denoising / flow matching on an affine path (rf, ddpm, edm, ...), in pixels or "
    "in an autoencoder's latents",
    noise_shape=lambda exp: tuple(exp.model.input_shape()),
    edit=edit,
)
