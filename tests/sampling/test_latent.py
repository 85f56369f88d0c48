"""Latent interpolation: end points, norms, files written."""

from __future__ import annotations

import torch

from genlab.sampling.latent import interpolate, lerp, slerp, style_mixing_grid


def test_lerp_and_slerp_end_points_and_norm():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(64, generator=g), torch.randn(64, generator=g)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    for f in (lerp, slerp):
        z = f(z0, z1, t)
        assert z.shape == (5, 64)
        assert torch.allclose(z[0], z1, atol=1e-5) and torch.allclose(z[-1], z0, atol=1e-5)
    assert torch.allclose(lerp(z0, z1, t)[2], 0.5 * (z0 + z1))
    # equal-norm end points: slerp stays on the sphere, lerp cuts inside it
    z1 = z1 * z0.norm() / z1.norm()
    assert torch.allclose(slerp(z0, z1, t).norm(dim=1), z0.norm().expand(5), rtol=1e-5)
    assert lerp(z0, z1, t)[2].norm() < 0.9 * z0.norm()


def test_interpolate_writes_strip_and_gif(tmp_path):
    def decode(z):  # (T, 4) -> (T, 1, 2, 2)
        return torch.tanh(z.view(-1, 1, 2, 2))

    x = interpolate(
        decode,
        torch.ones(4),
        -torch.ones(4),
        steps=5,
        kind="linear",
        strip=tmp_path / "s.png",
        gif=tmp_path / "a.gif",
    )
    assert x.shape == (5, 1, 2, 2) and (tmp_path / "s.png").is_file()
    from PIL import Image

    assert Image.open(tmp_path / "a.gif").n_frames == 8


def test_style_mixing_grid_layout(tmp_path):
    def synth(w):  # (B, L, W) -> (B, 1, L, W): the styles themselves as a picture
        return w[:, None]

    rows, cols = torch.zeros(2, 4, 3), torch.ones(3, 4, 3)
    grid = style_mixing_grid(synth, rows, cols, crossover=2, path=tmp_path / "m.png")
    assert grid.shape == (3, 4, 1, 4, 3)
    assert (grid[1:, 1:, 0, :2] == 1).all() and (grid[1:, 1:, 0, 2:] == 0).all()
    assert (tmp_path / "m.png").is_file()
