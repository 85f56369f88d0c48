"""The few-step family: students of a frozen diffusion / flow teacher.

A student is a network of the teacher's architecture, started from the teacher's
weights (or, below, one of its own), that predicts the teacher's kind
(``objective.target``) on its ``path``; it samples through ``genlab sample RUN --steps
1|2|4`` like a diffusion run (the diffusion family's sampler, so any sampler works).
Four objectives (``genlab.objectives.distill``):

- ``reflow``: rectified flow on (noise, teacher ODE sample) pairs (Liu et al. 2022);
  ``objective.student_steps=1`` with a reflow run as teacher is their one-step
  distillation of the straightened flow. Samples with Euler.
- ``progressive``: one round of progressive distillation (Salimans & Ho 2022); rounds
  chain (each round's run is the next round's teacher). Samples with Euler (= DDIM).
- ``consistency``: consistency distillation (Song et al. 2023). Samples with multistep
  consistency sampling (``sampler.name=consistency``).
- ``adversarial``: a one-step generator trained against a discriminator plus a
  regression to the teacher's samples, in the two-player loop ("distil into a GAN").

The pairs students (``reflow``, ``adversarial``) may instead start from scratch with a
network of their own (``objective.init=scratch``): a smaller U-Net, or for the
adversarial student a DCGAN generator ``G(z)`` that reads the teacher's noise flattened
(:func:`is_generator`), one forward pass of a GAN's cost.

The teacher (``objective.teacher``) is a trained ``denoise``, ``reflow`` or
``progressive`` run; the student's run pins its location and weights fingerprint
(``RUN/dependencies.json``). Guided teachers: targets use the teacher with CFG weight
``objective.teacher_cfg``, so the student samples without guidance.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from genlab.checkpoint import Network, load_network, load_tensors, save_tensors
from genlab.data.base import Dataset
from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families import diffusion
from genlab.families.base import (
    Family,
    class_cond_keys,
    class_null_cond,
    class_preview,
    prepare,
)
from genlab.models import build_model
from genlab.models.configs import DCGANConfig, DCGANDiscriminatorConfig
from genlab.models.dcgan import DCGANDiscriminator
from genlab.objectives import distill as D
from genlab.objectives import gan as L
from genlab.objectives.configs import DISTILL_TEACHER_KINDS
from genlab.paths import build_path
from genlab.rng import randn_per_seed
from genlab.sampling import make_grid
from genlab.sampling.configs import DiffusionSamplerConfig
from genlab.sampling.guidance import cfg as guided
from genlab.train import gan_loop, loop
from genlab.train.loop import make_optimizer

PAIRS = "pairs.safetensors"
PARAMETRISATION = ("path", "target", "precond", "sigma_data")

null_cond = class_null_cond
cond_keys = class_cond_keys


def from_scratch(exp: Experiment) -> bool:
    """Whether the student is a network of its own (``objective.init=scratch``, the pairs
    objectives only), not the teacher's network started from its weights."""
    return getattr(exp.objective, "init", "teacher") == "scratch"


def is_generator(exp: Experiment) -> bool:
    """Whether the student is a GAN generator (``model.arch=dcgan``) rather than a
    denoiser: it maps the teacher's noise to a sample in one pass, with no time input."""
    return exp.model.arch == "dcgan"


def build(exp: Experiment) -> nn.Module:
    """The student's network: the teacher's kind (EDM-preconditioned where it was,
    ``genlab.families.diffusion.build``), or a DCGAN generator whose ``z_dim`` is the
    teacher's noise size.

    Raises:
        ConfigError: a generator student that is not ``adversarial`` from ``init=scratch``,
            whose ``model.generator.z_dim`` is not the noise size, or whose (unused)
            ``model.discriminator`` was changed."""
    if not is_generator(exp):
        return diffusion.build(exp)
    o = exp.objective
    if o.kind != "adversarial" or not from_scratch(exp):
        raise ConfigError(
            f"model.arch: a DCGAN generator student has no time input, so it is trained "
            f"by objective.kind=adversarial with objective.init=scratch, not {o.kind} "
            f"from {o.init}"
        )
    if exp.model.discriminator != DCGANDiscriminatorConfig():
        raise ConfigError(
            "model.discriminator: not used by a distillation student; its discriminator "
            "is set by objective.disc_channels (and r1_gamma, gan_loss)"
        )
    size = math.prod(exp.model.input_shape())
    if exp.model.generator.z_dim != size:
        raise ConfigError(
            f"model.generator.z_dim: {exp.model.generator.z_dim}; a generator student reads "
            f"the teacher's noise {tuple(exp.model.input_shape())} flattened, so it must be "
            f"{size}"
        )
    return build_model(exp.model)


def _refuse_cfg(exp: Experiment, scfg) -> None:
    if getattr(scfg, "autoguidance", ""):
        raise ConfigError(
            "sampler.autoguidance: a distilled student samples without guidance of any "
            "kind; drop it and --cfg"
        )
    if scfg.cfg:
        raise ConfigError(
            f"sampler.cfg: {scfg.cfg} - a distilled student samples without guidance (its "
            f"teacher's CFG {exp.objective.teacher_cfg:g} is built in); drop --cfg"
        )


def _one_pass(scfg) -> None:
    if scfg.steps != 1:
        raise ConfigError(
            f"sampler.steps: {scfg.steps}; a GAN-generator student samples in one pass, "
            "so --steps must be 1"
        )


def sample(model: nn.Module, exp: Experiment, seeds, cond, scfg, noise=None) -> Tensor:
    """``genlab.families.diffusion.sample`` (path and kind from ``objective``), without
    guidance: a student has its teacher's guidance built in and never learned the null
    class, so ``sampler.cfg > 0`` is refused (:class:`ConfigError`). A generator student
    (:func:`is_generator`) returns ``G(z)`` ``(n, *S)`` from the same per-seed noise
    ``z`` ``(n, *S)`` a diffusion sample starts from (or ``noise``); it takes one step only
    (``sampler.steps`` > 1 is a :class:`ConfigError`)."""
    _refuse_cfg(exp, scfg)
    if not is_generator(exp):
        return diffusion.sample(model, exp, seeds, cond, scfg, noise)
    _one_pass(scfg)
    z = first_noise(exp, list(seeds)) if noise is None else noise
    device = next(model.parameters()).device
    with torch.no_grad():
        return model(z.to(device).flatten(1), cond)


def edit(model: nn.Module, exp: Experiment, seeds, cond, scfg, x_in, mask, **kw) -> Tensor:
    """``genlab.families.diffusion.edit`` without guidance (as :func:`sample`); a
    generator student has no denoiser to edit with (:class:`ConfigError`)."""
    _refuse_cfg(exp, scfg)
    if is_generator(exp):
        raise ConfigError(
            "model.arch: a GAN-generator student cannot edit (inpainting and SDEdit need "
            "a denoiser); edit with the teacher or a U-Net student"
        )
    return diffusion.edit(model, exp, seeds, cond, scfg, x_in, mask, **kw)


# ------------------------------------------------------------------------------ teacher


def _interface(model) -> tuple:
    """What a student of its own shares with its teacher: ``(input shape, classes,
    output channels)`` (``out_channels`` 0 means the input's)."""
    shape = tuple(model.input_shape())
    out = getattr(model, "out_channels", 0) or shape[0]
    return shape, getattr(model, "num_classes", 0), out


def load_teacher(exp: Experiment, device="cpu") -> Network:
    """The frozen teacher run ``objective.teacher`` (loaded once per process).

    Raises:
        CheckpointError: the directory, its config or weights are missing.
        ConfigError: it is not a diffusion / flow run (``denoise``, ``reflow`` or
            ``progressive``), or its network or parametrisation differ from the student's.
    """
    o = exp.objective
    net = load_network(o.teacher, o.teacher_weights, device)
    t_obj = net.config.get("objective") or {}
    if t_obj.get("kind") not in DISTILL_TEACHER_KINDS:
        raise ConfigError(
            f"objective.teacher: {o.teacher} is a '{t_obj.get('kind')}' run, not a "
            f"diffusion or flow run ({', '.join(DISTILL_TEACHER_KINDS)})"
        )
    for key in PARAMETRISATION:
        if t_obj.get(key) != getattr(o, key):
            raise ConfigError(
                f"objective.{key}: the student has {getattr(o, key)!r} but the teacher "
                f"{o.teacher} has {t_obj.get(key)!r}; they must match"
            )
    if o.kind == "progressive" and t_obj.get("kind") == "progressive":
        want = (2 * o.student_steps, o.grid)
        if (t_obj.get("student_steps"), t_obj.get("grid")) != want:
            raise ConfigError(
                f"objective.student_steps: a progressive round halves its teacher's steps on "
                f"the same grid; {o.teacher} takes {t_obj.get('student_steps')} "
                f"({t_obj.get('grid')} grid), so this round needs student_steps="
                f"{t_obj.get('student_steps', 0) // 2} and grid={t_obj.get('grid')}"
            )
    if t_obj.get("kind") != "denoise" and o.teacher_cfg:
        raise ConfigError(
            f"objective.teacher_cfg: the teacher {o.teacher} is a distilled student: its "
            "guidance is built in and it never learned the null class, so guiding it again "
            "gives garbage; set objective.teacher_cfg=0"
        )
    if from_scratch(exp):
        mine, theirs = _interface(exp.model), _interface(net.model)
        if mine != theirs:
            raise ConfigError(
                f"model: the student reads the teacher's noise and classes and draws its "
                f"images, (input shape, classes, output channels) {theirs} in {o.teacher}, "
                f"but its model has {mine}"
            )
    elif net.model != exp.model:
        raise ConfigError(
            f"model: the student starts from the teacher's weights, so its model section "
            f"must equal the teacher's ({o.teacher}/config.yaml), or set "
            f"objective.init=scratch (reflow and adversarial) to train a network of its own"
        )
    return net


def teacher_fn(exp: Experiment, net: nn.Module):
    """The teacher as ``f(x, t, cond)``, guided with weight ``objective.teacher_cfg``
    where the network is class-conditional."""
    if cond_keys(exp) and exp.objective.teacher_cfg:
        return guided(net, exp.objective.teacher_cfg, null_cond(exp))
    return net


def from_teacher(exp: Experiment) -> tuple[Dataset, nn.Module]:
    """The training data and the student, initialised with the teacher's weights, or
    freshly (seeded by ``exp.seed``) when ``objective.init=scratch``."""
    if exp.train.init_from:
        raise ConfigError(
            "train.init_from: a student starts from its teacher's weights (objective.teacher) "
            "or from scratch (objective.init)"
        )
    teacher = load_teacher(exp)
    data, student = prepare(exp, build)
    if not from_scratch(exp):
        student.load_state_dict(teacher.module.state_dict())
    return data, student


# -------------------------------------------------------------------------------- pairs


def first_noise(exp: Experiment, seeds: list[int]) -> Tensor:
    """``(n, *shape)`` unit noise: the first draw of ``keyed(seed)``, where every
    diffusion-like sample starts (``genlab.families.diffusion.sample``)."""
    return randn_per_seed(seeds, tuple(exp.model.input_shape()))


def pair_labels(exp: Experiment, seeds: list[int]) -> dict:
    """Class ``seed % K`` for a ``K``-class network (as ``genlab sample`` spreads them)."""
    k = getattr(exp.model, "num_classes", 0)
    return {"class": torch.tensor(seeds) % k} if k else {}


def make_pairs(exp: Experiment, n: int, batch: int = 256, progress: bool = False) -> dict:
    """``{"x", "noise", "seed", ("class")}``: the teacher's ODE sample from each seed's
    noise, seeds ``objective.pair_seed + i`` for ``i < n``; row ``i`` depends only on its
    seed (the sampler is deterministic). Sampler: ``pair_sampler`` with ``pair_steps`` and
    CFG ``teacher_cfg``, on the CPU, ``batch`` samples at a time."""
    o = exp.objective
    teacher = load_teacher(exp).module  # the student's network and parametrisation
    k = getattr(exp.model, "num_classes", 0)
    scfg = DiffusionSamplerConfig(
        name=o.pair_sampler, steps=o.pair_steps, cfg=o.teacher_cfg if k else 0.0
    )
    seeds = [o.pair_seed + i for i in range(n)]
    labels = pair_labels(exp, seeds)
    out = []
    for lo in tqdm(range(0, n, batch), disable=not progress, desc="teacher pairs"):
        s = seeds[lo : lo + batch]
        cond = {key: v[lo : lo + batch] for key, v in labels.items()}
        out.append(diffusion.sample(teacher, exp, s, cond, scfg))
    return {"x": torch.cat(out), "noise": first_noise(exp, seeds), "seed": torch.tensor(seeds),
            **labels}  # fmt: skip


def read_pairs_file(exp: Experiment, path: Path) -> dict:
    """Pairs from an ``.npz`` with ``x`` ``(n, *shape)`` and ``seed`` ``(n,)`` (and
    ``class``), as ``benchmarks/sampler_defaults.py --save-ref`` writes; the noise is
    re-drawn from each seed. A clear error naming ``objective.pairs_file`` otherwise."""
    import numpy as np

    key = "objective.pairs_file"
    try:
        f = np.load(path)
        x, seed = torch.from_numpy(f["x"]).float(), torch.from_numpy(f["seed"]).long()
        labels = {"class": torch.from_numpy(f["class"]).long()} if "class" in f.files else {}
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"{key}: {path} is not a pairs file with x and seed ({e})") from None
    if tuple(x.shape[1:]) != tuple(exp.model.input_shape()) or len(seed) != len(x):
        raise ConfigError(
            f"{key}: {path} holds x {tuple(x.shape)} and {len(seed)} seeds; the model "
            f"wants (n, {', '.join(map(str, exp.model.input_shape()))})"
        )
    k = getattr(exp.model, "num_classes", 0)
    if bool(k) != bool(labels):
        raise ConfigError(f"{key}: {path} has class labels only if the model is conditional")
    if not len(x):
        raise ConfigError(f"{key}: {path} holds no pairs")
    y = labels.get("class")
    if y is not None and (len(y) != len(x) or int(y.min()) < 0 or int(y.max()) >= k):
        raise ConfigError(
            f"{key}: {path} needs one class per pair, each in 0..{k - 1} (the model's classes)"
        )
    n = min(exp.objective.pairs, len(x))
    seeds = seed[:n].tolist()
    return {"x": x[:n], "noise": first_noise(exp, seeds), "seed": seed[:n],
            **{k: v[:n] for k, v in labels.items()}}  # fmt: skip


def load_pairs(exp: Experiment, run_dir: Path, data: Dataset) -> Dataset:
    """The pairs dataset (``x``: teacher samples, ``cond["noise"]``: their noise, and the
    class), made once and kept in ``RUN/pairs.safetensors`` so a resumed run reads the
    same pairs."""
    path = Path(run_dir) / PAIRS
    o = exp.objective
    if path.is_file():
        pairs = load_tensors(path)
    elif o.pairs_file:
        pairs = read_pairs_file(exp, Path(o.pairs_file))
        save_tensors(pairs, path)
    else:
        pairs = make_pairs(exp, o.pairs, progress=True)
        save_tensors(pairs, path)
    cond = {"noise": pairs["noise"], **({"class": pairs["class"]} if "class" in pairs else {})}
    return Dataset(pairs["x"], cond, data.modality, data.num_classes, data.class_names)


# ------------------------------------------------------------------------------ training


def teacher_on_device(exp: Experiment):
    """The (guided) teacher callable, loaded and checked once per device of the ``x`` it
    is given."""
    on: dict[torch.device, nn.Module] = {}

    def f(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        if x.device not in on:
            on[x.device] = teacher_fn(exp, load_teacher(exp, x.device).module)
        return on[x.device](x, t, cond)

    return f


def student_loss(exp: Experiment) -> loop.LossFn:
    """The per-sample loss of ``objective.kind`` (one of the one-objective students)."""
    o = exp.objective
    path = build_path(o.path)
    if o.kind == "reflow":  # trains on the pairs: no teacher calls
        return partial(D.reflow_loss, path=path, target=o.target, student_steps=o.student_steps)
    f = teacher_on_device(exp)
    if o.kind == "progressive":
        grid = make_grid(o.grid, 2 * o.student_steps, path)
        return partial(D.progressive_loss, teacher=f, path=path, target=o.target, teacher_grid=grid)
    return partial(
        D.consistency_loss,
        teacher=f,
        path=path,
        target=o.target,
        grid_fn=lambda n: make_grid(o.grid, n, path),
        intervals=lambda k: D.curriculum_steps(k, exp.train.steps, o.steps_start, o.steps_end),
        batch_size=exp.train.batch_size,
        metric=o.loss,
        huber_c=o.huber_c,
    )


def discriminator(exp: Experiment) -> nn.Module:
    """A DCGAN discriminator for the data's images, with the class projection where the
    student is class-conditional."""
    c, h, _ = exp.model.input_shape()
    cfg = DCGANConfig(
        image_size=h,
        in_channels=c,
        num_classes=getattr(exp.model, "num_classes", 0),
        discriminator=DCGANDiscriminatorConfig(channels=exp.objective.disc_channels, norm="none"),
    )
    return DCGANDiscriminator(cfg)


def adversarial_losses(exp: Experiment):
    """The two players' losses ``(g, d, batch, gen, step, k) -> (loss (), logs)``: D sees
    the teacher's samples as real and ``G(z)`` as fake (+ ``r1_gamma / 2`` R1 on the
    real ones); G minimises the game's loss plus ``reg_weight`` times the squared error
    to the teacher's sample from the same noise."""
    o = exp.objective
    d_fn, g_fn = L.LOSSES[o.gan_loss]
    if is_generator(exp):
        one_step = D.generator_regression_loss
    else:
        one_step = partial(D.regression_loss, path=build_path(o.path), target=o.target)

    def d_loss(g, d, batch, gen, step, k):
        x0, z, cond = D.split_pair(batch)
        with torch.no_grad():
            fake, _ = one_step(g, z, x0, cond)
        r, f = d(x0, cond), d(fake, cond)
        total = d_fn(r, f).mean()
        logs = {"d_real": r.mean().detach(), "d_fake": f.mean().detach()}
        if o.r1_gamma > 0:
            r1 = L.r1_penalty(lambda x: d(x, cond), x0).mean()
            total = total + 0.5 * o.r1_gamma * r1
            logs["r1"] = r1.detach()
        return total, logs

    def g_loss(g, d, batch, gen, step, k):
        x0, z, cond = D.split_pair(batch)
        fake, reg = one_step(g, z, x0, cond)
        adv = g_fn(d(fake, cond)).mean()
        return adv + o.reg_weight * reg.mean(), {"g_adv": adv.detach(), "mse": reg.mean().detach()}

    return d_loss, g_loss


def _adam(exp: Experiment, lr: float):
    def make(module: nn.Module) -> torch.optim.Optimizer:
        return make_optimizer(module.parameters(), exp.train, lr=lr, betas=exp.objective.betas)

    return make


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train the student of ``objective.kind`` (from the teacher's weights or from scratch)."""
    o = exp.objective
    _refuse_cfg(exp, exp.sampler)  # the run's own sampler, checked before any training
    if is_generator(exp):
        _one_pass(exp.sampler)
    data, student = from_teacher(exp)
    keys = cond_keys(exp)
    preview = class_preview(sample, exp)
    if o.kind in ("reflow", "adversarial"):
        data = load_pairs(exp, run_dir, data)
        keys = (*keys, "noise")
    if o.kind == "adversarial":
        d_loss, g_loss = adversarial_losses(exp)
        return gan_loop.fit(
            run_dir,
            exp.train,
            exp.seed,
            gan_loop.Player(student, _adam(exp, o.g_lr), o.g_lr, g_loss, exp.train.grad_clip),
            gan_loop.Player(
                discriminator(exp), _adam(exp, o.d_lr), o.d_lr, d_loss, exp.train.grad_clip
            ),
            data,
            n_critic=1,
            cond_keys=keys,
            preview=preview,
            resume=resume,
        )
    return loop.fit(
        run_dir,
        exp.train,
        exp.seed,
        student,
        student_loss(exp),
        data,
        cond_keys=keys,
        preview=preview,
        resume=resume,
    )


FAMILY = Family(
    name="distill",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=null_cond,
    dependencies=lambda exp: {
        "objective.teacher": (exp.objective.teacher, exp.objective.teacher_weights)
    },
    doc="few-step students of a diffusion teacher: reflow, progressive, consistency, adversarial",
    noise_shape=lambda exp: tuple(exp.model.input_shape()),
    samples_alone=True,
    edit=edit,
)
