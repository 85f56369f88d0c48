"""Video networks: per-axis patches, the DiT's six attention modes on (B, C, T, H, W) clips
and the (2+1)-D U-Net.

Properties: patchify/unpatchify are exact inverses with one patch size per axis; the
one-layer factored attention equals full attention for one frame; the inserted temporal
layers start as the identity (an image DiT's weights, loaded, give the per-frame image
output); spatial layers never mix frames and temporal ones never mix positions; the
(2+1)-D U-Net keeps T, is a per-frame image U-Net at initialisation and mixes
neighbouring frames in both directions once its temporal layers are trained; config
errors name the key; every mode learns (a loss falls on one clip); attention_flops is the
closed form counted from the attention masks.
"""

import typing

import pytest
import torch
from torch import nn

from genlab.errors import ConfigError
from genlab.models.configs import DIT_ATTENTION, DiTConfig, UNetConfig
from genlab.models.dit import DiT
from genlab.models.unet import UNet
from genlab.nn.attention import MODES, TWO_LAYER_MODES, attend_space_time, attention_flops
from genlab.nn.blocks import Attention, ResBlock
from genlab.nn.patch import patchify, unpatchify


def randomise_(m: nn.Module, keep=(), std: float = 0.2, seed: int = 0) -> nn.Module:
    """Every parameter ~ N(0, std^2) (leaving the zero inits, so that each layer shows in the
    output), except those whose name contains one of ``keep``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if not any(k in name for k in keep):
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return m.eval()


def video_dit(attention: str, frames: int = 4, **kw) -> DiT:
    cfg = dict(in_channels=2, image_size=8, dims=3, frames=frames, patch=2, hidden=16,
               depth=2, heads=2, attention=attention)  # fmt: skip
    torch.manual_seed(0)
    return DiT(DiTConfig(**{**cfg, **kw}))


def changed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per frame of ``(B, C, T, H, W)``: did anything change?"""
    return ((a - b).abs() > 1e-5).flatten(3).transpose(1, 2).flatten(2).any(-1).any(0)


# ------------------------------------------------------------------------ patchify


@pytest.mark.parametrize(
    "shape, p", [((2, 3, 4, 6, 8), (2, 3, 4)), ((2, 1, 6, 8), (3, 2)), ((2, 2, 12), (4,))]
)
def test_patchify_round_trip_per_axis(shape, p):
    x = torch.randn(shape)
    tokens = patchify(x, p)
    n, f = 1, shape[1]
    for s, q in zip(shape[2:], p):
        n, f = n * (s // q), f * q
    assert tokens.shape == (shape[0], n, f)
    assert torch.equal(unpatchify(tokens, p, shape[1], shape[2:]), x)
    # the first token is the first patch, channels first then each axis in order
    corner = x[0][(slice(None), *(slice(0, q) for q in p))]
    assert torch.equal(tokens[0, 0], corner.flatten())
    # an int is that size on every axis
    assert torch.equal(patchify(x, 2), patchify(x, (2,) * (len(shape) - 2)))


def test_patchify_bad_patches():
    x = torch.randn(1, 1, 4, 6, 6)
    with pytest.raises(ValueError, match="not divisible"):
        patchify(x, (3, 2, 2))
    with pytest.raises(ValueError, match="each of 3 axes"):
        patchify(x, (2, 2))


def test_video_tokens_are_frame_major():
    """Token t * S + s is spatial patch s of temporal patch t (what attend_space_time needs)."""
    x = torch.arange(6.0).view(1, 1, 6, 1, 1).expand(1, 1, 6, 4, 4)  # pixel value = frame
    tokens = patchify(x, (2, 2, 2))  # 3 temporal patches of 4 spatial ones
    first_frame = tokens[0, :, 0].view(3, 4)  # feature 0: first frame of each patch
    assert torch.equal(first_frame, torch.tensor([0.0, 2.0, 4.0])[:, None].expand(3, 4))


# -------------------------------------------------------------------------- config


def test_video_config_shapes_and_errors():
    hint = typing.get_type_hints(DiTConfig)["attention"]  # the typed override's choices
    assert typing.get_args(hint) == DIT_ATTENTION == (*MODES, *TWO_LAYER_MODES)
    cfg = DiTConfig(in_channels=3, image_size=64, dims=3, frames=20, temporal_patch=2, patch=4)
    assert cfg.input_shape() == (3, 20, 64, 64) and cfg.patch_size() == (2, 4, 4)
    assert DiTConfig(dims=3, image_size=8).input_shape() == (1, 8, 8, 8)  # cubic, as before
    assert UNetConfig(dims=3, frames=16, image_size=32).input_shape() == (1, 16, 32, 32)
    assert UNetConfig(frames=128, image_size=64).input_shape() == (1, 64, 128)  # mel
    bad = [
        (dict(dims=3, frames=20, temporal_patch=3), "model.temporal_patch: 3 does not divide"),
        (dict(dims=3, temporal_patch=2), "model.temporal_patch: needs model.frames"),
        (dict(dims=3, frames=4, temporal_patch=0), "model.temporal_patch: must be at least 1"),
        (dict(frames=4), "model.frames"),  # dims=2
        (dict(dims=3, frames=-1), "model.frames"),
        (dict(dims=3, attention="temporal_layers"), "model.frames"),
        (dict(dims=3, frames=4, attention="axial"), "model.attention: unknown mode"),
        (dict(frames=0, attention="divided"), "model.attention"),  # dims=2
    ]
    for kw, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            DiTConfig(**kw)
    for kw in (dict(dims=2, video="factored"), dict(dims=3, video="2d")):
        with pytest.raises(ConfigError, match="model.video"):
            UNetConfig(**kw)
    with pytest.raises(ConfigError, match="model.frames"):
        UNetConfig(dims=1, frames=8)


def test_old_parameter_names_are_kept():
    """Cubic video and image DiTs have one pos (1, N, D) and no new parameter; a 3d U-Net
    has no temporal layers."""
    m = DiT(DiTConfig(dims=3, image_size=4, patch=2, hidden=16, depth=1, heads=2))
    assert m.state_dict()["pos"].shape == (1, 8, 16)
    assert not any("_t" in k or "temporal" in k for k in m.state_dict())
    u = UNet(UNetConfig(dims=3, image_size=8, frames=4, channels=8, channel_mult=(1, 2),
                        attn_levels=(1,)))  # fmt: skip
    assert not any(k.split(".")[-2] in ("conv_t", "norm_t", "spatial", "temporal")
                   for k in u.state_dict())  # fmt: skip


def test_dit_video_parameters_per_mode():
    """Modes full..factored share every weight; divided adds attn_t, norm_t and 3 adaLN
    vectors per block; temporal_layers adds one LN + attention per block."""
    n = {a: sum(p.numel() for p in video_dit(a).parameters()) for a in DIT_ATTENTION}
    d, depth = 16, 2
    attn = 3 * d * d + 3 * d + d * d + d  # qkv + proj
    assert len({n[a] for a in ("full", "factored", "spatial", "temporal")}) == 1
    assert n["divided"] - n["full"] == depth * (attn + 3 * d * d + 3 * d)
    assert n["temporal_layers"] - n["full"] == depth * (attn + 2 * d)


# ------------------------------------------------------------------------- the DiT


def test_factored_equals_full_for_one_frame():
    q, k, v = torch.randn(3, 2, 2, 9, 4).unbind(0)
    torch.testing.assert_close(attend_space_time(q, k, v, 1, "factored"),
                               attend_space_time(q, k, v, 1, "full"))  # fmt: skip
    full = randomise_(video_dit("full", frames=1))
    fact = video_dit("factored", frames=1).eval()
    fact.load_state_dict(full.state_dict())
    x, t = torch.randn(2, 2, 1, 8, 8), torch.rand(2)
    torch.testing.assert_close(fact(x, t), full(x, t), rtol=1e-5, atol=1e-5)
    # with several frames they differ (so the check above is not vacuous)
    full, fact = randomise_(video_dit("full")), randomise_(video_dit("factored"))
    x = torch.randn(2, 2, 4, 8, 8)
    assert not torch.allclose(fact(x, t), full(x, t), atol=1e-3)


@pytest.mark.parametrize("pos_init", ["random", "sincos"])
def test_temporal_layers_start_as_the_image_dit(pos_init):
    """Load a (randomised) image DiT into the video DiT with temporal layers: only the
    temporal layers and pos_time are missing, and every frame's output is the image DiT's
    on that frame alone (with sine-cosine positions too: the frame table is added inside
    the temporal layers, whose output starts at zero)."""
    torch.manual_seed(1)
    image = randomise_(DiT(DiTConfig(in_channels=2, image_size=8, patch=2, hidden=16, depth=2,
                                     heads=2, num_classes=3, pos_init=pos_init)))  # fmt: skip
    video = video_dit("temporal_layers", num_classes=3, pos_init=pos_init).eval()
    res = video.load_state_dict(image.state_dict(), strict=False)
    assert res.unexpected_keys == []
    assert set(res.missing_keys) == {"pos_time"} | {
        k for k in video.state_dict() if k.startswith("temporal.")
    }
    x, t, y = torch.randn(2, 2, 4, 8, 8), torch.rand(2), torch.tensor([0, 2])
    out = video(x, t, {"class": y})  # (B, C, T, H, W)
    frames = x.transpose(1, 2).reshape(8, 2, 8, 8)  # (B T, C, H, W)
    per_frame = image(frames, t.repeat_interleave(4), {"class": y.repeat_interleave(4)})
    torch.testing.assert_close(out, per_frame.view(2, 4, 2, 8, 8).transpose(1, 2),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    # once the temporal layers' output projections move, frames meet
    randomise_(video, keep=("blocks", "embed", "pos", "time", "label", "ada", "out"), seed=3)
    x2 = x.clone()
    x2[:, :, 0] += torch.randn_like(x2[:, :, 0])
    assert changed(video(x2, t, {"class": y}), video(x, t, {"class": y})).all()


@pytest.mark.parametrize("mode", DIT_ATTENTION)
def test_which_frames_a_dit_mixes(mode):
    """Perturb frame 0: spatial (and, at initialisation, temporal_layers) changes frame 0
    only; every other mode reaches every frame. With temporal_patch 2, spatial attention
    changes the frames of the first temporal patch (0, 1) only."""
    m = randomise_(video_dit(mode), keep=("temporal.",) if mode == "temporal_layers" else ())
    x, t = torch.randn(2, 2, 4, 8, 8), torch.rand(2)
    x2 = x.clone()
    x2[:, :, 0] += torch.randn_like(x2[:, :, 0])
    hit = changed(m(x2, t), m(x, t))
    local = mode in ("spatial", "temporal_layers")
    assert hit.tolist() == ([True, False, False, False] if local else [True] * 4)
    if mode == "spatial":
        m = randomise_(video_dit(mode, temporal_patch=2))
        assert changed(m(x2, t), m(x, t)).tolist() == [True, True, False, False]


@pytest.mark.parametrize("mode", ["temporal", "spatial", "divided", "full"])
def test_which_positions_a_dit_mixes(mode):
    """Perturb the top-left 2x2 patch of frame 0: temporal attention changes that patch in
    every frame and nothing else; spatial-reaching modes change other positions too."""
    m = randomise_(video_dit(mode))
    x, t = torch.randn(2, 2, 4, 8, 8), torch.rand(2)
    x2 = x.clone()
    x2[:, :, 0, :2, :2] += torch.randn_like(x2[:, :, 0, :2, :2])
    diff = (m(x2, t) - m(x, t)).abs() > 1e-5  # (B, C, T, H, W)
    inside, outside = diff[..., :2, :2], diff.clone()
    outside[..., :2, :2] = False
    if mode == "temporal":  # that patch in every frame, nothing else
        assert inside.flatten(3).any(-1).any(0).any(0).all() and not outside.any()
    else:
        assert outside.any()


def test_fewer_frames_read_the_first_temporal_embeddings():
    m = randomise_(video_dit("full"))
    x, t = torch.randn(1, 2, 2, 8, 8), torch.rand(1)
    assert m(x, t).shape == x.shape
    with pytest.raises(ValueError, match="at most 4"):
        m(torch.randn(1, 2, 6, 8, 8), t)


# ------------------------------------------------------------------------- the U-Net


def factored_unet(**kw) -> UNet:
    cfg = dict(dims=3, in_channels=1, image_size=8, frames=6, channels=8, channel_mult=(1, 2),
               num_res_blocks=1, attn_levels=(1,), heads=2, video="factored")  # fmt: skip
    torch.manual_seed(0)
    return UNet(UNetConfig(**{**cfg, **kw}))


@pytest.mark.parametrize("frames, size", [(20, 64), (16, 32)])
def test_factored_unet_keeps_every_frame(frames, size):
    u = factored_unet(image_size=size, frames=frames, channel_mult=(1, 2, 2, 2), attn_levels=(2,))
    x = torch.randn(1, *u.cfg.input_shape())
    assert x.shape == (1, 1, frames, size, size)
    with torch.no_grad():
        hs, h, _ = u.encode(x, torch.rand(1))
        assert {a.shape[2] for a in hs} == {frames} and h.shape[2:] == (
            frames,
            size // 8,
            size // 8,
        )
        assert u(x, torch.rand(1)).shape == x.shape


TEMPORAL = ("conv_t", "temporal.out")  # the zero-initialised temporal layers of the U-Net


def test_factored_unet_is_a_per_frame_unet_at_init():
    u = randomise_(factored_unet(), keep=TEMPORAL)
    x, t = torch.randn(2, 1, 6, 8, 8), torch.rand(2)
    out = u(x, t)
    alone = torch.cat([u(x[:, :, i : i + 1], t) for i in range(6)], 2)  # one frame at a time
    torch.testing.assert_close(out, alone, rtol=1e-5, atol=1e-5)
    x2 = x.clone()
    x2[:, :, 3] += torch.randn_like(x2[:, :, 3])
    assert changed(u(x2, t), out).tolist() == [False, False, False, True, False, False]


def test_factored_unet_mixes_frames_both_ways_once_trained():
    """Temporal layers non-zero: perturbing the middle frame reaches earlier and later ones
    (not causal); a single ResBlock's temporal convolution reaches one frame each side."""
    u = randomise_(factored_unet(attn_levels=()))
    u.mid[1].temporal.out.weight.data.zero_()  # no temporal attention: convolutions only
    x, t = torch.randn(1, 1, 6, 8, 8), torch.rand(1)
    x2 = x.clone()
    x2[:, :, 3] += torch.randn_like(x2[:, :, 3])
    hit = changed(u(x2, t), u(x, t)).tolist()
    assert hit[2] and hit[3] and hit[4]
    blk = randomise_(ResBlock(3, 4, 4, 8, factored=True))
    emb, h = torch.randn(1, 8), torch.randn(1, 4, 6, 5, 5)
    h2 = h.clone()
    h2[:, :, 3] += torch.randn_like(h2[:, :, 3])
    assert changed(blk(h2, emb), blk(h, emb)).tolist() == [False, False, True, True, True, False]


def test_unet_spatial_and_temporal_attention():
    """Spatial attention never mixes frames; temporal attention never mixes pixels."""
    x = torch.randn(2, 8, 4, 3, 3)
    sp, tm = (randomise_(Attention(8, 2, mode=m)) for m in ("spatial", "temporal"))
    x2 = x.clone()
    x2[:, :, 1, 0, 0] += torch.randn_like(x2[:, :, 1, 0, 0])
    assert changed(sp(x2), sp(x)).tolist() == [False, True, False, False]
    d = (tm(x2) - tm(x)).abs().amax((0, 1)) > 1e-5  # (T, H, W)
    assert d[:, 0, 0].all() and not d.flatten(1)[:, 1:].any()


def test_3d_unet_with_frames():
    cfg = UNetConfig(
        dims=3, image_size=8, frames=6, channels=8, channel_mult=(1, 2), attn_levels=(1,)
    )
    u = UNet(cfg)
    x = torch.randn(1, 1, 6, 8, 8)
    assert u(x, torch.rand(1)).shape == x.shape


# --------------------------------------------------------------------- learning


def overfit(m: nn.Module, shape, steps: int = 30, lr: float = 3e-3) -> tuple[float, float]:
    """Fit one clip's fixed target from a fixed input; (first loss, last loss)."""
    g = torch.Generator().manual_seed(0)
    x, target = torch.randn(1, *shape, generator=g), torch.randn(1, *shape, generator=g)
    t = torch.tensor([0.5])
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = (m(x, t) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


@pytest.mark.parametrize("mode", DIT_ATTENTION)
def test_each_dit_mode_learns(mode):
    m = video_dit(mode).train()
    first, last = overfit(m, m.cfg.input_shape())
    assert last < 0.7 * first, (first, last)
    for name, p in m.named_parameters():  # the temporal parts receive gradients
        if "attn_t" in name or name.startswith("temporal."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("video", ["3d", "factored"])
def test_each_unet_video_form_learns(video):
    m = factored_unet(video=video, frames=4).train()
    first, last = overfit(m, m.cfg.input_shape())
    assert last < 0.7 * first, (first, last)


# ------------------------------------------------------------------------- flops


def test_attention_flops_closed_form_and_masks():
    t, s, d = 3, 4, 8
    frame, pos = torch.arange(t * s) // s, torch.arange(t * s) % s
    same_frame = (frame[:, None] == frame[None]).sum().item()  # pairs a query may see
    same_pos = (pos[:, None] == pos[None]).sum().item()
    assert attention_flops("full", t, s, d) == 2 * d * (t * s) ** 2
    assert attention_flops("spatial", t, s, d) == 2 * d * same_frame == 2 * d * t * s * s
    assert attention_flops("temporal", t, s, d) == 2 * d * same_pos == 2 * d * s * t * t
    for mode in ("factored", "divided", "temporal_layers"):
        assert attention_flops(mode, t, s, d) == 2 * d * (same_frame + same_pos)
    # 20 frames of 16x16 tokens at D = 128: factored is (T S) / (T + S) = 18.6x cheaper
    full, fact = attention_flops("full", 20, 256, 128), attention_flops("factored", 20, 256, 128)
    assert full == 6_710_886_400 and fact == 361_758_720
    with pytest.raises(ValueError, match="attention mode 'axial'"):
        attention_flops("axial", t, s, d)


def test_small_attention_recipes_are_at_equal_parameters():
    """dit-{,full-,temporal-}moving-mnist-small differ only in model.attention and the
    width that brings each to the divided network's parameter count (within 2.5%)."""
    import dataclasses

    from genlab.models import build_model
    from genlab.recipes import RECIPES

    names = (("divided", ""), ("full", "full-"), ("temporal_layers", "temporal-"))
    exps = {a: RECIPES[f"dit-{p}moving-mnist-small"].make() for a, p in names}
    n = {a: sum(p.numel() for p in build_model(e.model).parameters()) for a, e in exps.items()}
    assert abs(n["full"] / n["divided"] - 1) < 0.025
    assert abs(n["temporal_layers"] / n["divided"] - 1) < 0.025
    base = dataclasses.asdict(exps["divided"])
    for a, e in exps.items():
        assert e.model.attention == a
        other = dataclasses.asdict(e)
        other["model"]["attention"], other["model"]["hidden"] = "divided", 128
        other["recipe"] = base["recipe"]
        assert other == base


def test_latent_and_pixel_small_recipes_differ_only_in_their_space():
    """dit-latent-moving-mnist-small is dit-moving-mnist-small's network on 4x5x8x8
    latents: the same blocks, width, heads, positions, steps and batch, the same 320
    tokens a clip (1x1 latent patches), parameters within 2% (the patch embeddings)."""
    from genlab.models import build_model
    from genlab.recipes import RECIPES

    pix, lat = (RECIPES[f"dit-{p}moving-mnist-small"].make() for p in ("", "latent-"))
    same = ("hidden", "depth", "heads", "attention", "pos_init", "dims")
    assert all(getattr(pix.model, k) == getattr(lat.model, k) for k in same)
    assert (pix.train.steps, pix.train.batch_size) == (lat.train.steps, lat.train.batch_size)
    assert pix.data == lat.data
    ae = RECIPES["video-klae-moving-mnist-small"].make()
    assert ae.data == pix.data and lat.objective.autoencoder.endswith(ae.recipe)
    assert tuple(lat.model.input_shape()) == ae.model.latent_shape()
    m = [e.model for e in (pix, lat)]
    tokens = [c.frames // c.temporal_patch * (c.image_size // c.patch) ** 2 for c in m]
    n = [sum(p.numel() for p in build_model(e.model).parameters()) for e in (pix, lat)]
    assert tokens == [320, 320] and abs(n[1] / n[0] - 1) < 0.02


@pytest.mark.parametrize("mode", ["full", "divided", "temporal_layers"])
def test_sincos_positions_tell_the_frames_apart(mode):
    """With pos_init=sincos the frames' positions start as the frame index's sine-cosine
    table (full, divided: pos_time; temporal_layers: pos_time stays zero and each inserted
    layer adds the table to its input), so the network is not equivariant to reordering
    the frames; with no time position (pos_time zero, no table) it is."""
    from genlab.nn.embed import sincos_grid

    m = randomise_(video_dit(mode, pos_init="sincos"), keep=("pos",)).eval()
    x, t, perm = torch.randn(2, 2, 4, 8, 8), torch.rand(2), torch.tensor([2, 0, 3, 1])
    if mode == "temporal_layers":
        assert m.pos_time.abs().max() == 0
        torch.testing.assert_close(m.temporal[0].pos, sincos_grid((4,), 16))
    else:
        torch.testing.assert_close(m.pos_time.data, sincos_grid((4,), 16))
    with torch.no_grad():
        moved = (m(x[:, :, perm], t) - m(x, t)[:, :, perm]).abs().max()
        assert moved > 1e-3  # the frame order matters
        m.pos_time.zero_()
        for layer in m.temporal or ():
            layer.pos = None
        torch.testing.assert_close(m(x[:, :, perm], t), m(x, t)[:, :, perm], rtol=1e-4, atol=1e-5)
