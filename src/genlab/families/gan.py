"""The GAN family: the two-player game, its networks and its samples.

A GAN run's ``model`` section holds both networks (``model.generator.*`` and
``model.discriminator.*``: see ``models/gan_mlp.py``, ``dcgan.py``, ``stylegan.py``);
:func:`build` returns the generator (what ``model.safetensors`` holds and ``genlab
sample`` needs) and :func:`build_discriminator` the discriminator. The ``objective``
section (:class:`GanConfig`) holds the game: loss, regularizers, ``n_critic``, the two
learning rates (TTUR), packing and instance noise. ``train.lr`` is not used by GANs:
``d_lr`` and ``g_lr`` are the peaks of ``train``'s warm-up + cosine schedule
(``train.min_lr_ratio=1``: constant, as in most papers). The game's two losses are handed
to the two-player loop (``genlab.train.gan_loop``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import (
    Family,
    class_cond_keys,
    class_null_cond,
    class_preview,
    no_dependencies,
    prepare,
)
from genlab.metrics.modes import PROTOCOLS, protocol_stats
from genlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from genlab.models.gan_mlp import MLPDiscriminator, MLPGenerator
from genlab.models.stylegan import StyleDiscriminator, StyleGenerator, draw_noise
from genlab.objectives import gan as L
from genlab.rng import keyed, randn_per_seed
from genlab.sampling.configs import GanSamplerConfig
from genlab.train import gan_loop
from genlab.train.loop import make_optimizer

_NOISE_KEY = 0x4015E
MODE_SAMPLES = 2500  # points drawn for the live mode count (VEEGAN / PacGAN protocol)

# model.arch -> (generator class, discriminator class(cfg, pack))
NETWORKS = {
    "gan-mlp": (MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "stylegan": (StyleGenerator, StyleDiscriminator),
}


def _networks(exp: Experiment):
    if exp.model.arch not in NETWORKS:
        raise ConfigError(
            f"model.arch: {exp.model.arch!r} is not a GAN; choose from {', '.join(NETWORKS)}"
        )
    return NETWORKS[exp.model.arch]


def build(exp: Experiment) -> nn.Module:
    """The generator ``G(z, cond)``."""
    return _networks(exp)[0](exp.model)


def build_discriminator(exp: Experiment) -> nn.Module:
    """The discriminator ``D(x, cond) -> (B,)``, packed and spectrally normalised as the
    objective says."""
    o = exp.objective
    if o.pack > 1 and getattr(exp.model, "num_classes", 0):
        raise ConfigError("objective.pack: packing is for unconditional GANs (num_classes=0)")
    d = _networks(exp)[1](exp.model, o.pack)
    return L.spectral_norm_(d) if o.spectral_norm else d


null_cond = class_null_cond


cond_keys = class_cond_keys


def generate(
    g: nn.Module, z: Tensor, cond: dict, generator: torch.Generator, mix_prob: float = 0.0
) -> Tensor:
    """One generator forward for training: StyleGAN draws its noise inputs and, with
    probability ``mix_prob``, a second latent and a crossover layer from ``generator``."""
    g0 = getattr(g, "module", g)  # DDP wraps the generator in the G step
    if not isinstance(g0, StyleGenerator):
        return g(z, cond)
    noise = draw_noise(g0, len(z), generator, z.device)
    if float(torch.rand((), generator=generator)) < mix_prob:
        z2 = torch.randn(z.shape, generator=generator).to(z)
        k = int(torch.randint(1, g0.num_layers, (), generator=generator))
        return g(z, cond, noise, z2=z2, crossover=k)
    return g(z, cond, noise)


def noise_std(exp: Experiment, step: int) -> float:
    """Instance-noise std at ``step``: linear decay from ``objective.instance_noise`` to 0."""
    o = exp.objective
    span = o.instance_noise_steps or exp.train.steps
    return o.instance_noise * max(0.0, 1.0 - step / span)


def _noisy(x: Tensor, std: float, gen: torch.Generator) -> Tensor:
    """``x + std * eps`` with ``eps`` drawn from ``gen`` (``x`` itself when ``std == 0``)."""
    if std == 0:
        return x
    return x + std * torch.randn(x.shape, generator=gen).to(x)


def _mix_prob(exp: Experiment) -> float:
    return getattr(exp.model.generator, "mixing_prob", 0.0)


def discriminator_loss(exp: Experiment):
    """The D player's loss ``(g, d, batch, gen, step, k) -> (loss (), logs)``: the game's
    D loss on packed, noised real and fake batches, plus the gradient penalty and the
    lazy R1 penalty (on sub-step 0 of every ``r1_every``-th step, weighted
    ``gamma / 2 * r1_every`` so its average over steps is ``gamma / 2 * R1``; Karras et
    al. 2020, "Analyzing and improving the image quality of StyleGAN", Sec. 4)."""
    o = exp.objective
    d_fn = L.LOSSES[o.loss][0]

    def loss(g, d, batch, gen, step, k):
        real, cond = batch["x"], batch["cond"]
        z = torch.randn(len(real), exp.model.z_dim, generator=gen).to(real)
        with torch.no_grad():
            fake = generate(g, z, cond, gen, _mix_prob(exp))
        std = noise_std(exp, step)
        real, fake = _noisy(real, std, gen), _noisy(fake, std, gen)
        real_p, fake_p = L.pack(real, o.pack), L.pack(fake, o.pack)  # (B/m, m*C, ...)

        def critic(x):
            return d(x, cond)

        r, f = critic(real_p), critic(fake_p)  # (B/m,) logits
        total = d_fn(r, f).mean()
        logs = {"d_real": r.mean().detach(), "d_fake": f.mean().detach()}
        if o.gp_weight > 0:
            gp = L.gradient_penalty(critic, real_p, fake_p, gen).mean()
            total = total + o.gp_weight * gp
            logs["gp"] = gp.detach()
        if o.r1_gamma > 0 and k == 0 and step % o.r1_every == 0:
            r1 = L.r1_penalty(critic, real_p).mean()
            total = total + 0.5 * o.r1_gamma * o.r1_every * r1
            logs["r1"] = r1.detach()
        return total, logs

    return loss


def generator_loss(exp: Experiment):
    """The G player's loss ``(g, d, batch, gen, step, k) -> (loss (), logs)`` on as many
    fresh latents as the shard has real samples, with the shard's conditions."""
    o = exp.objective
    g_fn = L.LOSSES[o.loss][1]

    def loss(g, d, batch, gen, step, k):
        cond = batch["cond"]
        x = batch["x"]
        z = torch.randn(len(x), exp.model.z_dim, generator=gen).to(x.device)
        fake = _noisy(generate(g, z, cond, gen, _mix_prob(exp)), noise_std(exp, step), gen)
        return g_fn(d(L.pack(fake, o.pack), cond)).mean(), {}

    return loss


@torch.no_grad()
def sample(
    model: nn.Module,
    exp: Experiment,
    seeds: list[int],
    cond: dict,
    scfg: GanSamplerConfig,
    noise: Tensor | None = None,
) -> Tensor:
    """``G(z_i)`` with ``z_i`` (and StyleGAN's noise) drawn from seed ``i`` only;
    ``noise`` ``(n, z_dim)`` replaces the ``z_i``."""
    device = next(model.parameters()).device
    z = randn_per_seed(seeds, (exp.model.z_dim,), device)
    if noise is not None:
        z = noise.to(z).reshape(z.shape)
    if isinstance(model, StyleGenerator):
        gens = [keyed(s, _NOISE_KEY) for s in seeds]
        noise = [
            torch.stack([torch.randn(shape, generator=g) for g in gens]).to(device)
            for shape in model.noise_shapes()
        ]
        return model(z, cond, noise, truncation=scfg.truncation)
    if scfg.truncation != 1.0:
        raise ConfigError("sampler.truncation: only StyleGAN generators support truncation")
    return model(z, cond)


def adam(exp: Experiment, lr: float):
    """Adam with the game's betas (AdamW when ``train.weight_decay`` is set)."""

    def make(module: nn.Module) -> torch.optim.Optimizer:
        if exp.train.weight_decay:
            return make_optimizer(module.parameters(), exp.train, lr=lr, betas=exp.objective.betas)
        return torch.optim.Adam(module.parameters(), lr=lr, betas=tuple(exp.objective.betas))

    return make


def fit_game(exp: Experiment, run_dir: Path, resume: bool, data, g: nn.Module, d: nn.Module,
             losses, preview, cond_keys: tuple[str, ...] = ()) -> Path:  # fmt: skip
    """Train ``g`` against ``d`` in the two-player loop with the objective's learning
    rates, betas and ``n_critic`` (Adam, :func:`adam`); ``losses``: ``(g_loss, d_loss)``
    as ``genlab.train.gan_loop.Player`` takes them."""
    o, train = exp.objective, exp.train
    g_loss, d_loss = losses
    return gan_loop.fit(
        run_dir,
        train,
        exp.seed,
        gan_loop.Player(g, adam(exp, o.g_lr), o.g_lr, g_loss, train.grad_clip),
        gan_loop.Player(d, adam(exp, o.d_lr), o.d_lr, d_loss, train.grad_clip),
        data,
        n_critic=o.n_critic,
        cond_keys=cond_keys,
        preview=preview,
        resume=resume,
    )


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train the game in the two-player loop (live mode counts on the 2-D protocols)."""
    o, train = exp.objective, exp.train
    if train.batch_size % o.pack:
        raise ConfigError(
            f"train.batch_size: {train.batch_size} is not a multiple of objective.pack={o.pack}"
        )
    data, g = prepare(exp, build, resume)
    d = build_discriminator(exp)
    clip = (lambda m: L.clip_weights_(m, o.clip)) if o.loss == "wgan" else None
    protocol = exp.data.name if exp.data.name in PROTOCOLS else None

    def monitor(ema_g: nn.Module) -> dict:
        x = sample(ema_g, exp, list(range(MODE_SAMPLES)), {}, exp.sampler)
        s = protocol_stats(x.cpu(), protocol)
        return {
            "modes": s["modes"],
            "high_quality": s["high_quality"],
            "kl": s["reverse_kl"],  # of the high-quality samples (NaN while there are none)
            "kl_all": s["reverse_kl_all"],
        }

    return gan_loop.fit(
        run_dir,
        train,
        exp.seed,
        gan_loop.Player(g, adam(exp, o.g_lr), o.g_lr, generator_loss(exp), train.grad_clip),
        gan_loop.Player(
            d, adam(exp, o.d_lr), o.d_lr, discriminator_loss(exp), train.grad_clip, clip
        ),
        data,
        n_critic=o.n_critic,
        cond_keys=cond_keys(exp),
        preview=class_preview(sample, exp),
        monitor=monitor if protocol else None,
        resume=resume,
    )


FAMILY = Family(
    name="gan",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=null_cond,
    dependencies=no_dependencies,
    doc="two-player GAN game (minimax, NS, WGAN(-GP), hinge, LSGAN)",
    noise_shape=lambda exp: (exp.model.z_dim,),
)
