"""The image-to-image family: Pix2Pix (paired) and CycleGAN (unpaired) translation GANs.

Both are two-player games handed to the GAN family's loop (``genlab.train.gan_loop``);
their terms are in ``genlab.objectives.translate`` and their networks in
``genlab.models.translate``.

- ``pix2pix`` (Isola et al. 2017): the data's images are the targets; each target's
  source is made from it (``objective.source``: ``genlab.data.pairs``). G is the U-Net,
  D a PatchGAN on (source, image) channel pairs; G's loss adds ``l1_weight`` x L1.
- ``cyclegan`` (Zhu et al. 2017): domain A is the data's images of class
  ``objective.domain_a``, B those of ``domain_b`` (e.g. circles and squares of
  ``shapes``), unpaired: each batch is split by class. G holds ``g_ab`` and ``g_ba``
  (:class:`~genlab.models.translate.CycleGenerators`), D holds ``d_a``, ``d_b`` and their
  pools of past fakes (:class:`CycleDiscriminators`; the pools are buffers, checkpointed
  with D, so resume is exact).

Sampling translates sources: ``cond["source"]`` ``(n, C, H, W)`` when given (``genlab
edit RUN --image``), else held-out images (``genlab.data.heldout_config``) picked by
seed, made into sources as in training (Pix2Pix) or taken from the domain
``sampler.direction`` starts from (CycleGAN). Translation is deterministic (no dropout at
sampling); ``sampler.sources=true`` returns the sources instead (inputs for ``genlab
edit``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.data import heldout_config
from genlab.data.pairs import make_source
from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import Family, heldout_images, made_from, no_dependencies, prepare
from genlab.families.gan import fit_game
from genlab.models.translate import CycleGenerators, PatchDiscriminator, build_generator
from genlab.objectives import translate as T

PREVIEW = 8  # preview columns
_PICK_KEY, _SOURCE_KEY = 0x5E1EC7, 0x50C3  # which held-out image, its source


def _check(exp: Experiment) -> None:
    if exp.model.arch != "translator":
        raise ConfigError(
            f"model.arch: {exp.model.arch!r}; {exp.objective.kind} runs need 'translator'"
        )


def build(exp: Experiment) -> nn.Module:
    """The generator: Pix2Pix's ``G(source)``, or CycleGAN's pair (``CycleGenerators``)."""
    _check(exp)
    if exp.objective.kind == "cyclegan":
        return CycleGenerators(exp.model)
    return build_generator(exp.model)


class CycleDiscriminators(nn.Module):
    """CycleGAN's two discriminators and the pools of fakes each is trained on.
    ``forward(a, b) -> (d_a(a), d_b(b))``: one call for both (one forward per step under
    DDP)."""

    def __init__(self, exp: Experiment):
        super().__init__()
        m, size = exp.model, exp.objective.pool_size
        self.d_a = PatchDiscriminator(m.in_channels, m.discriminator, m.norm)
        self.d_b = PatchDiscriminator(m.in_channels, m.discriminator, m.norm)
        self.pool_a = T.ImagePool(size, m.input_shape())
        self.pool_b = T.ImagePool(size, m.input_shape())

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        none = a.new_zeros(0, 1, 1, 1)  # no image of that domain: no logits
        return (self.d_a(a) if len(a) else none), (self.d_b(b) if len(b) else none)


def build_discriminator(exp: Experiment) -> nn.Module:
    """Pix2Pix: a PatchGAN on ``2 C`` channels (source, image); CycleGAN: the pair."""
    if exp.objective.kind == "cyclegan":
        return CycleDiscriminators(exp)
    return PatchDiscriminator(2 * exp.model.in_channels, exp.model.discriminator, exp.model.norm)


def _mean(per_sample: Tensor) -> Tensor:
    """The mean of a ``(B,)`` loss, 0 for an empty one (a batch without one domain)."""
    return per_sample.sum() / max(len(per_sample), 1)


def _touch(module: nn.Module) -> Tensor:
    """0 times every parameter: added to a loss whose batch lacks a domain, so every
    parameter still gets a (zero) gradient and DDP's all-reduce sees all of them."""
    return sum(p.flatten()[0] * 0.0 for p in module.parameters() if p.requires_grad)


# ------------------------------------------------------------------------------ Pix2Pix


def pix2pix_losses(exp: Experiment):
    """The two players' losses ``(g, d, batch, gen, step, k) -> (loss (), logs)``."""
    o = exp.objective

    def pair(source: Tensor, image: Tensor) -> Tensor:
        return torch.cat([source, image], 1)  # (B, 2C, H, W): D judges the pair

    def d_loss(g, d, batch, gen, step, k):
        y = batch["x"]
        x = make_source(o.source, y, gen)
        with torch.no_grad():
            fake = g(x)
        r, f = d(pair(x, y)), d(pair(x, fake))  # (B, 1, h, w) patch logits
        loss = T.patch_d_loss(o.loss, r, f).mean()
        return loss, {"d_real": r.mean().detach(), "d_fake": f.mean().detach()}

    def g_loss(g, d, batch, gen, step, k):
        y = batch["x"]
        x = make_source(o.source, y, gen)
        fake = g(x)
        adv, rec = T.patch_g_loss(o.loss, d(pair(x, fake))), T.l1(fake, y)
        logs = {"g_adv": adv.mean().detach(), "l1": rec.mean().detach()}
        return (adv + o.l1_weight * rec).mean(), logs

    return g_loss, d_loss


# ----------------------------------------------------------------------------- CycleGAN


def domains(exp: Experiment, batch: dict) -> tuple[Tensor, Tensor]:
    """The batch's domain A and domain B images (by class)."""
    x, cls = batch["x"], batch["cond"]["class"]
    return x[cls == exp.objective.domain_a], x[cls == exp.objective.domain_b]


def cyclegan_losses(exp: Experiment):
    """The two players' losses ``(g, d, batch, gen, step, k) -> (loss (), logs)``."""
    o = exp.objective
    lam, lam_id = o.cycle_weight, o.identity_weight * o.cycle_weight

    def d_loss(g, d, batch, gen, step, k):
        a, b = domains(exp, batch)
        with torch.no_grad():
            fake_b, fake_a = g.translate(a, "a2b"), g.translate(b, "b2a")
        d0 = getattr(d, "module", d)  # the pools are D's state, outside its forward
        fake_a, fake_b = d0.pool_a.query(fake_a, gen), d0.pool_b.query(fake_b, gen)
        out_a, out_b = d(torch.cat([a, fake_a]), torch.cat([b, fake_b]))
        real_a, fake_a = T.patch_d_terms(o.loss, out_a[: len(a)], out_a[len(a) :])
        real_b, fake_b = T.patch_d_terms(o.loss, out_b[: len(b)], out_b[len(b) :])
        loss_a, loss_b = _mean(real_a) + _mean(fake_a), _mean(real_b) + _mean(fake_b)
        total = loss_a + loss_b + (_touch(d) if not (len(a) and len(b)) else 0.0)
        return total, {"d_a": loss_a.detach(), "d_b": loss_b.detach()}

    def g_loss(g, d, batch, gen, step, k):
        a, b = domains(exp, batch)
        out = g(a, b, identity=lam_id > 0)  # one forward of both generators
        adv_a, adv_b = d(out["fake_a"], out["fake_b"])
        gan = _mean(T.patch_g_loss(o.loss, adv_b)) + _mean(T.patch_g_loss(o.loss, adv_a))
        r = o.reconstruction
        cyc = _mean(T.cycle_loss(a, out["rec_a"], r)) + _mean(T.cycle_loss(b, out["rec_b"], r))
        total = gan + lam * cyc + (_touch(g) if not (len(a) and len(b)) else 0.0)
        logs = {"g_adv": gan.detach(), "cycle": cyc.detach()}
        if lam_id > 0:
            idt = _mean(T.identity_loss(b, out["idt_b"], r)) + _mean(
                T.identity_loss(a, out["idt_a"], r)
            )
            total = total + lam_id * idt
            logs["identity"] = idt.detach()
        return total, logs

    return g_loss, d_loss


# ----------------------------------------------------------------------------- sampling


def draw_sources(exp: Experiment, seeds: list[int], direction: str) -> tuple[Tensor, Tensor]:
    """``(sources, targets)`` ``(n, C, H, W)`` for ``seeds``: held-out image i picked by
    ``seeds[i]`` (:func:`~genlab.families.base.heldout_images`; CycleGAN: among the domain
    ``direction`` starts from), made into a Pix2Pix source with ``keyed(seeds[i], ...)``;
    targets are the images themselves (Pix2Pix) or the inputs (CycleGAN)."""
    o = exp.objective
    if o.kind == "pix2pix":
        x = heldout_images(exp, seeds, _PICK_KEY)
        return sources_of(exp, x, seeds), x
    x = heldout_images(exp, seeds, _PICK_KEY, o.domain_a if direction == "a2b" else o.domain_b)
    return x, x


def sources_of(exp: Experiment, targets: Tensor, seeds: list[int]) -> Tensor:
    """Pix2Pix sources ``(n, C, H, W)`` of ``targets``, source i drawn (``break``) from
    ``keyed(seeds[i], ...)``: what sampling and the benchmarks translate."""
    return made_from(exp.objective.source, targets, seeds, _SOURCE_KEY)


@torch.no_grad()
def translate(model: nn.Module, exp: Experiment, source: Tensor, direction: str) -> Tensor:
    """``(B, C, H, W)`` translations of ``source`` (Pix2Pix: ``direction`` must be
    ``"a2b"``), in eval mode (no dropout) whatever mode ``model`` is in.

    Raises:
        ConfigError: ``b2a`` on a Pix2Pix run, or sources of another shape than the run's.
    """
    shape = tuple(exp.model.input_shape())
    if source.ndim != 4 or tuple(source.shape[1:]) != shape:
        raise ConfigError(
            f"source: a batch (B, {', '.join(map(str, shape))}) of the run's images, "
            f"got {tuple(source.shape)}"
        )
    if direction != "a2b" and not isinstance(model, CycleGenerators):
        raise ConfigError("sampler.direction: a Pix2Pix run translates one way (a2b)")
    was = model.training
    model.eval()  # deterministic: no dropout, batch norm from its running statistics
    try:
        if isinstance(model, CycleGenerators):
            return model.translate(source, direction)
        return model(source)
    finally:
        model.train(was)


def reference(exp: Experiment, scfg) -> tuple[object, str]:
    """The held-out images translations are scored against (``genlab eval``): Pix2Pix's
    targets are the held-out images; a CycleGAN's are the held-out images of the domain
    ``scfg.direction`` leads to, which needs a data config that can hold one class alone
    (``shapes`` labelled by shape).

    Raises:
        ConfigError: a CycleGAN on data whose classes cannot be drawn one at a time.
    """
    cfg, desc = heldout_config(exp.data)
    if exp.objective.kind == "pix2pix":
        return cfg, desc
    o = exp.objective
    target = o.domain_b if scfg.direction == "a2b" else o.domain_a
    if cfg.name != "shapes" or cfg.label != "shape":
        raise ConfigError(
            f"genlab eval: a CycleGAN's reference is the held-out images of class {target} "
            f"alone, which '{cfg.name}' cannot draw; score it with benchmarks/translation.py"
        )
    name = cfg.shapes[target]
    cfg = dataclasses.replace(cfg, shapes=(name,))
    return cfg, f"{desc}, {name}s only (the {scfg.direction} target domain)"


@torch.no_grad()
def sample(
    model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg, noise=None
) -> Tensor:
    """Translations ``(n, C, H, W)`` of ``cond["source"]``, or of held-out sources drawn
    by seed (:func:`draw_sources`); with ``sampler.sources`` the sources themselves."""
    device = next(model.parameters()).device
    source = cond.get("source")
    if source is None:
        source = draw_sources(exp, seeds, scfg.direction)[0]
    if scfg.sources:  # the inputs themselves, e.g. files for genlab edit
        return source.to(device)
    return translate(model, exp, source.to(device), scfg.direction)


def preview(exp: Experiment):
    """Rows of held-out sources, their translations and targets (CycleGAN: A, G(A), B,
    F(B))."""

    def show(model: nn.Module) -> tuple[Tensor, int]:
        device = next(model.parameters()).device
        seeds = list(range(PREVIEW))
        rows = []
        directions = ("a2b", "b2a") if exp.objective.kind == "cyclegan" else ("a2b",)
        for direction in directions:
            source, target = draw_sources(exp, seeds, direction)
            out = translate(model, exp, source.to(device), direction).cpu()
            rows += [source, out] + ([target] if exp.objective.kind == "pix2pix" else [])
        return torch.cat(rows), PREVIEW

    return show


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train the translation game in the two-player loop."""
    o = exp.objective
    _check(exp)  # before prepare's shape check, which would name the wrong cause
    data, g = prepare(exp, build, resume)
    if o.kind == "cyclegan":
        have = set(data.cond["class"].unique().tolist()) if "class" in data.cond else set()
        for key in ("domain_a", "domain_b"):
            if getattr(o, key) not in have:
                raise ConfigError(
                    f"objective.{key}: class {getattr(o, key)} has no images in "
                    f"{exp.data.name} (classes present: {sorted(have)})"
                )
        g_loss, d_loss = cyclegan_losses(exp)
    else:
        g_loss, d_loss = pix2pix_losses(exp)
    d = build_discriminator(exp)
    keys = ("class",) if o.kind == "cyclegan" else ()
    return fit_game(exp, run_dir, resume, data, g, d, (g_loss, d_loss), preview(exp), keys)


def cond_keys(exp: Experiment) -> tuple[str, ...]:
    """The networks take no condition besides their input image."""
    return ()


FAMILY = Family(
    name="translate",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=lambda exp: {},
    dependencies=no_dependencies,
    doc="image-to-image translation GANs (Pix2Pix paired, CycleGAN unpaired)",
    translate=translate,
    reference=reference,
)
