"""The causal video autoencoder (``genlab.models.video_vae``): later frames never change
earlier latents (nor later latents earlier decoded frames), the 4x time / 4x space shapes,
round trips, a tiny overfit, clear config errors, and the two-player KL-AE (3-D patch
discriminator) through the vae family on a small in-memory video dataset, with exact
resume, its measured scale/shift and its use as latent diffusion's autoencoder."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pytest
import torch

import genlab.config as C
from genlab.data import DATASETS, DatasetSpec
from genlab.data.base import Dataset
from genlab.errors import ConfigError
from genlab.experiment import Experiment, TrainConfig
from genlab.models import PRESETS, build_model
from genlab.models.configs import VideoVAEConfig
from genlab.models.video_vae import VideoAutoencoder, VideoPatchDiscriminator
from genlab.objectives.configs import KLAEConfig, VQLossConfig
from genlab.objectives.vae import elbo_loss
from genlab.sampling.configs import VAESamplerConfig, VQSamplerConfig


def tiny(**changes) -> VideoVAEConfig:
    """1x12x16x16 clips -> a 4x3x4x4 latent, widths 8 and 16."""
    base = dict(frames=12, image_size=16, channels=8, channel_mult=(1, 2, 2))
    return VideoVAEConfig(**{**base, **changes})


def net(cfg: VideoVAEConfig, seed: int = 0) -> VideoAutoencoder:
    torch.manual_seed(seed)
    return build_model(cfg).eval()


# ---------------------------------------------------------------- the network


def test_default_shapes_and_round_trip():
    cfg = dataclasses.replace(PRESETS["video-klae-small"], channels=4, channel_mult=(1, 1, 1))
    assert cfg.input_shape() == (1, 20, 64, 64) and cfg.latent_shape() == (4, 5, 16, 16)
    m = net(cfg)
    x = torch.rand(2, 1, 20, 64, 64) * 2 - 1
    with torch.no_grad():
        mu, logvar = m.posterior(x)
        z = m.encode(x)
        out, _, _ = m(x, {}, torch.randn(2, 4, 5, 16, 16))
        assert mu.shape == logvar.shape == z.shape == (2, 4, 5, 16, 16)
        assert m.decode(z).shape == out.shape == x.shape
        assert m.latent_shape() == (4, 5, 16, 16) and m.image_size == 64 and m.frames == 20
    vq = net(dataclasses.replace(cfg, quantizer="vq", latent_dim=8, codebook_size=16))
    with torch.no_grad():
        tokens = vq.encode(x)
        assert tokens.shape == (2, 5 * 16 * 16) and tokens.dtype == torch.int64
        assert vq.decode(tokens).shape == x.shape
        assert vq.tokens_to_latent(tokens).shape == vq.latents(x).shape == (2, 8, 5, 16, 16)


@pytest.mark.parametrize("quantizer", ["kl", "vq"])
def test_later_frames_do_not_change_earlier_latents(quantizer):
    m = net(tiny(quantizer=quantizer))
    latents = m.latents if quantizer == "vq" else (lambda v: m.posterior(v)[0])
    x = torch.rand(2, 1, 12, 16, 16) * 2 - 1
    with torch.no_grad():
        z = latents(x)  # (2, 4, 3, 4, 4): latent frame j covers frames [4j, 4j + 3]
        for k in (4, 5, 7, 8):
            y = x.clone()
            y[:, :, k] = -y[:, :, k]
            diff = (latents(y) - z).abs().amax((0, 1, 3, 4))  # per latent frame
            first = k // 4  # the first latent frame that covers frame k
            assert diff[:first].max() < 1e-6, (k, diff)
            assert diff[first] > 1e-4, (k, diff)  # ... and it does change that one
        # the decoder too: latent frame j shapes only decoded frames >= 4j
        zz = z.clone()
        zz[:, :, 1] += 1.0
        dx = (m.decoder(zz) - m.decoder(z)).abs().amax((0, 1, 3, 4))
        assert dx[:4].max() < 1e-6 and dx[4:].min() > 1e-6, dx


def test_tiny_overfit_reconstruction_falls():
    torch.manual_seed(0)
    m = build_model(tiny(frames=8, channels=16, channel_mult=(1, 1, 1)))
    x = torch.zeros(2, 1, 8, 16, 16) - 1  # two bright squares sliding right, down
    for i in range(8):
        x[0, 0, i, 4:8, i : i + 4] = 1
        x[1, 0, i, i : i + 4, 8:12] = 1
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    errs = []
    for step in range(50):
        batch = {"x": x, "cond": {}, "samples_seen": step * 2}
        loss, _ = elbo_loss(m, batch, gen, beta=1e-3, warmup_samples=0, binarize=False)
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        with torch.no_grad():
            errs.append(float((m.reconstruct(x) - x).abs().mean()))
    assert errs[-1] < 0.5 * errs[0], errs[::10]


def test_config_errors_name_the_key():
    cases = {
        "model.frames": dict(frames=18),
        "model.image_size": dict(image_size=18),
        "model.time_down": dict(time_down=3),
        "model.channel_mult": dict(channel_mult=(1, 2)),
        "model.quantizer": dict(quantizer="fsq"),
        "model.ema_decay": dict(ema_decay=1.0),
        "model.scale": dict(scale=0.0),
    }
    for key, change in cases.items():
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            tiny(**change)
    with pytest.raises(ConfigError, match=r"model\.frames: 18 frames do not fit time_down=4"):
        C.from_dict(VideoVAEConfig, {"arch": "video_vae", "frames": 18}, "model")
    # other strides: 8x in time (3 stages) and no temporal compression
    for cfg, shape in [
        (tiny(frames=16, time_down=8, channel_mult=(1, 1, 1, 1)), (4, 2, 4, 4)),
        (tiny(time_down=1), (4, 12, 4, 4)),
    ]:
        assert cfg.latent_shape() == shape
        with torch.no_grad():
            assert net(cfg).posterior(torch.zeros(1, *cfg.input_shape()))[0].shape[1:] == shape


def test_the_video_patch_discriminator():
    d = VideoPatchDiscriminator(1, 4)
    assert d(torch.zeros(3, 1, 12, 16, 16)).shape == (3,)


# ---------------------------------------------------------------- the family


@dataclass
class ClipsConfig:
    """A test-only dataset: bright squares sliding across black 16x16 frames."""

    name: str = "test-clips"
    n: int = 16
    frames: int = 12
    image_size: int = 16
    seed: int = 0


def make_clips(cfg: ClipsConfig) -> Dataset:
    g = torch.Generator().manual_seed(cfg.seed)
    s, side = cfg.image_size, cfg.image_size // 4
    x = torch.full((cfg.n, 1, cfg.frames, s, s), -1.0)
    start = torch.randint(0, s - side, (cfg.n, 2), generator=g)
    step = torch.randint(-1, 2, (cfg.n, 2), generator=g)
    for i in range(cfg.n):
        for t in range(cfg.frames):
            r, c = ((start[i] + t * step[i]) % (s - side)).tolist()
            x[i, 0, t, r : r + side, c : c + side] = 1.0
    return Dataset(x, modality="video", sample_rate=8)


class _Spec(DatasetSpec):
    def build(self, cfg):
        return make_clips(cfg)


@pytest.fixture
def clips(monkeypatch):
    spec = _Spec(ClipsConfig, "tests:none", "video", "test clips")
    monkeypatch.setitem(DATASETS, "test-clips", spec)
    previews = []

    def record(x, nrow, modality, *rest, **kw):  # the viz of video belongs to another test
        previews.append((tuple(x.shape), modality))

    import genlab.train.gan_loop as gan_loop
    import genlab.train.loop as loop

    monkeypatch.setattr(gan_loop, "write_preview", record)
    monkeypatch.setattr(loop, "write_preview", record)
    return previews


TRAIN = dict(
    batch_size=4, log_every=1, sample_every=0, num_samples=4, tensorboard=False,
    warmup_steps=1, threads=1, lr=1e-3,
)  # fmt: skip


def experiment(objective, model: VideoVAEConfig, steps: int, **train) -> Experiment:
    sampler = VQSamplerConfig() if objective.kind == "vq" else VAESamplerConfig()
    t = TrainConfig(steps=steps, ckpt_every=2, **{**TRAIN, **train})
    return Experiment(
        data=ClipsConfig(), model=model, objective=objective, sampler=sampler, train=t
    )


def test_klae_two_player_resumes_exactly_and_feeds_latent_diffusion(clips, tmp_path):
    from genlab.checkpoint import load_tensors
    from genlab.families.diffusion import load_autoencoder
    from genlab.families.vae import FAMILY
    from genlab.models.configs import UNetConfig
    from genlab.objectives.configs import DenoiseConfig
    from genlab.runs import fit, load_experiment, load_model

    obj = KLAEConfig(disc_weight=1.0, disc_start=1, disc_channels=4)
    a, b = tmp_path / "a", tmp_path / "b"
    fit(experiment(obj, tiny(channels=4), 4), a)
    fit(experiment(obj, tiny(channels=4), 4, stop_after=2), b)
    fit(experiment(obj, tiny(channels=4), 4), b, resume=True)
    for name in ("model", "disc"):
        wa, wb = load_tensors(a / f"{name}.safetensors"), load_tensors(b / f"{name}.safetensors")
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    disc = load_tensors(a / "disc.safetensors")
    assert disc["net.0.weight"].shape == (4, 1, 3, 4, 4)  # the 3-D patch discriminator
    rows = [json.loads(r) for r in (a / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in rows if "d_loss" in r]) == 4 and all("kl" in r for r in rows)
    assert clips[-1] == ((8, 1, 12, 16, 16), "video")  # 4 clips over their reconstructions

    exp, ae = load_model(a)
    assert exp.model.scale != 1.0 and exp.model.shift != 0.0
    x = make_clips(ClipsConfig()).x
    with torch.no_grad():
        z = ae.encode(x)
    assert abs(float(z.mean())) < 1e-3 and abs(float(z.std()) - 1) < 1e-3
    assert FAMILY.sample(ae, exp, [0, 1], {}, exp.sampler).shape == (2, 1, 12, 16, 16)

    unet = UNetConfig(in_channels=4, image_size=4, dims=3, frames=3, channels=8)
    ldm = Experiment(data=ClipsConfig(), model=unet, objective=DenoiseConfig(autoencoder=str(a)))
    found = load_autoencoder(ldm)
    assert found.encode(x[:2]).shape == (2, *unet.input_shape())
    for change, message in [
        (dict(model=dataclasses.replace(unet, frames=4)), r"set .*model\.dims=3 model\.frames=3"),
        (dict(data=ClipsConfig(frames=16)), r"data\.frames: 16, but .* 12-frame clips"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_autoencoder(dataclasses.replace(ldm, **change))
    assert load_experiment(a).model.arch == "video_vae"


@dataclass
class VQGANConfig(VQLossConfig):
    """The VQ objective with the patch discriminator's settings (the fields the family
    reads when an objective has them)."""

    disc_weight: float = 1.0
    disc_start: int = 0
    disc_channels: int = 4


def test_vq_trains_alone_and_against_the_patch_discriminator(clips, tmp_path):
    from genlab.families.diffusion import load_autoencoder
    from genlab.families.vae import FAMILY, fit_adversarial
    from genlab.models.configs import UNetConfig
    from genlab.objectives.configs import DenoiseConfig
    from genlab.runs import fit, load_model

    model = tiny(channels=4, quantizer="vq", codebook_size=16)
    run = fit(experiment(VQLossConfig(), model, 2), tmp_path / "vq")
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert "perplexity" in rows[-1] and "d_loss" not in rows[-1]
    exp, ae = load_model(run)
    assert FAMILY.sample(ae, exp, [0, 1], {}, exp.sampler).shape == (2, 1, 12, 16, 16)
    ldm = Experiment(
        data=ClipsConfig(),
        model=UNetConfig(in_channels=4, image_size=4, dims=3, frames=3),
        objective=DenoiseConfig(autoencoder=str(run)),
    )
    with pytest.raises(ConfigError, match="is a VQ video autoencoder"):
        load_autoencoder(ldm)

    gan = tmp_path / "vqgan"
    gan.mkdir()
    fit_adversarial(experiment(VQGANConfig(), model, 2), gan, False)
    rows = [json.loads(r) for r in (gan / "metrics.jsonl").read_text().splitlines()]
    assert all("d_loss" in r and "g_adv" in r and "commit" in r for r in rows)

    with pytest.raises(
        ConfigError, match=r"objective\.kind: klae does not train .* model\.quantizer=vq"
    ):
        fit(experiment(KLAEConfig(), model, 2), tmp_path / "bad")


def test_klae_on_moving_shapes_end_to_end(tmp_path):
    """The registered video data and the real video previews (no stand-ins)."""
    if "moving-shapes" not in DATASETS:
        pytest.skip("the moving-shapes dataset is not registered yet")
    from genlab.data import dataset_config
    from genlab.runs import fit

    data = dataset_config("moving-shapes")(n=8, image_size=16, frames=8)
    model = tiny(in_channels=3, frames=8, channels=4)
    exp = experiment(KLAEConfig(disc_weight=1.0, disc_channels=4), model, 2, num_samples=2)
    run = fit(dataclasses.replace(exp, data=data), tmp_path / "run")
    assert any((run / "samples").iterdir())
    assert C.load_yaml(run / "config.yaml")["model"]["scale"] != 1.0
