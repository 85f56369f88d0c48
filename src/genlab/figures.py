"""Figures from trained runs: latent walks of a GAN and latent traversals and
interpolations of a VAE (PNG strips and GIFs, through ``genlab.sampling.latent``).

    python -m genlab.figures walks RUN OUT [--seeds 0 1] [--steps 8]   # a GAN run
    python -m genlab.figures latent RUN OUT                            # a VAE run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.data import build_dataset
from genlab.errors import ConfigError, GenlabError
from genlab.models.stylegan import StyleGenerator
from genlab.rng import randn_per_seed
from genlab.runs import load_model
from genlab.sampling.latent import interpolate, style_mixing_grid
from genlab.viz import save_grid


@torch.no_grad()
def latent_walks(run_dir, out_dir, seeds=(0, 1), steps: int = 8, weights: str = "ema") -> list:
    """Write latent interpolations of a trained GAN run (unconditional or class 0):
    ``linear.png`` / ``linear.gif``, ``spherical.png`` / ``spherical.gif`` from the latent
    of ``seeds[0]`` (t = 0) to ``seeds[1]`` (t = 1) and, for StyleGAN, ``mixing.png``
    (rows: seeds 10-13, columns: seeds 20-24, coarse styles from the column). Returns
    the paths written."""
    if steps < 2:
        raise ConfigError(f"--steps: a walk needs at least 2 frames, got {steps}")
    exp, g = load_model(Path(run_dir), weights)
    if exp.objective.kind != "gan":
        raise ConfigError(f"{run_dir}: latent walks need a GAN run, not '{exp.objective.kind}'")
    out = Path(out_dir)
    device = next(g.parameters()).device
    z1, z0 = randn_per_seed(list(seeds), (exp.model.z_dim,), device)  # t = 0: seeds[0]

    def decode(z):
        cond = {"class": torch.zeros(len(z), dtype=torch.int64)} if exp.model.num_classes else {}
        return g(z.float(), cond)

    paths = []
    for kind in ("linear", "spherical"):
        strip, gif = out / f"{kind}.png", out / f"{kind}.gif"
        interpolate(decode, z0, z1, steps, kind, strip, gif)
        paths += [strip, gif]
    if isinstance(g, StyleGenerator) and not exp.model.num_classes:
        rows = g.styles(randn_per_seed(list(range(10, 14)), (exp.model.z_dim,), device))
        cols = g.styles(randn_per_seed(list(range(20, 25)), (exp.model.z_dim,), device))
        paths.append(out / "mixing.png")
        style_mixing_grid(g.synthesize, rows, cols, g.num_layers // 2, paths[-1])
    return paths


@torch.no_grad()
def traverse(vae: nn.Module, z: Tensor, dims: list[int], values: Tensor, cond=None) -> Tensor:
    """Decode ``z (D,)`` with one coordinate at a time set to each of ``values (V,)``:
    ``(len(dims) * V, C, H, W)``, one row per dimension (Higgins et al. 2017, fig. 7)."""
    zs = z.expand(len(dims), len(values), -1).clone()
    for r, d in enumerate(dims):
        zs[r, :, d] = values.to(z)
    zs = zs.reshape(-1, z.shape[-1])
    c = {k: v.expand(len(zs)) for k, v in (cond or {}).items()}
    return vae.mean_image(vae.decoder(zs, c)).clamp(-1, 1)


@torch.no_grad()
def latent_figures(run_dir, out_dir, images=(0, 1), steps: int = 8, rows: int = 8) -> list:
    """Write ``traversal.png`` (the ``rows`` latent dimensions with the largest mean KL on
    the first 500 training images, each swept over [-3, 3] around the posterior mean of
    image ``images[0]``) and ``linear`` / ``spherical`` interpolations (PNG strip + GIF)
    between the posterior means of two training images, via ``genlab.sampling.latent``.
    Vector latents only. Returns the paths written."""
    exp, vae = load_model(Path(run_dir))
    if exp.objective.kind not in ("elbo", "klae"):
        raise ConfigError(f"{run_dir}: traversals need a VAE run, not '{exp.objective.kind}'")
    if vae.cfg.spatial:
        raise ConfigError(f"{run_dir}: traversals need a vector latent (model.spatial=false)")
    data = build_dataset(exp.data)
    x = data.x[:500]
    cond = {"class": data.cond["class"][:500]} if exp.model.num_classes else {}
    mu, logvar = vae.posterior(x, cond)
    kl_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)  # (D,)
    dims = kl_dim.argsort(descending=True)[: min(rows, len(kl_dim))].tolist()
    i, j = images
    c0 = {k: v[i] for k, v in cond.items()}
    out = Path(out_dir)
    paths = [out / "traversal.png"]
    grid = traverse(vae, mu[i], dims, torch.linspace(-3, 3, 9), c0)
    save_grid(grid, paths[0], nrow=9)

    def decode(z):
        c = {k: v.expand(len(z)) for k, v in c0.items()}
        return vae.mean_image(vae.decoder(z.float(), c)).clamp(-1, 1)

    for kind in ("linear", "spherical"):
        strip, gif = out / f"{kind}.png", out / f"{kind}.gif"
        interpolate(decode, mu[j], mu[i], steps, kind, strip, gif)
        paths += [strip, gif]
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genlab.figures", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    w = sub.add_parser("walks", help="latent walks (PNG strip + GIF) of a GAN run")
    w.add_argument("run")
    w.add_argument("out")
    w.add_argument("--seeds", type=int, nargs=2, default=(0, 1))
    w.add_argument("--steps", type=int, default=8)
    v = sub.add_parser("latent", help="latent traversals and interpolations of a VAE run")
    v.add_argument("run")
    v.add_argument("out")
    a = p.parse_args(argv)
    try:
        paths = _draw(a)
    except GenlabError as e:
        print(f"genlab.figures: error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def _draw(a) -> list:
    if a.what == "walks":
        return latent_walks(a.run, a.out, a.seeds, a.steps)
    return latent_figures(a.run, a.out)


if __name__ == "__main__":
    sys.exit(main())
