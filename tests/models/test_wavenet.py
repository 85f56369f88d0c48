"""WaveNet: causality, receptive field, cached generation equal to uncached, a tiny
overfit whose loss falls, and the CLI end to end (train, sample to WAV)."""

from __future__ import annotations

import json

import pytest
import soundfile as sf
import torch

from genlab.cli import main
from genlab.errors import ConfigError
from genlab.models.configs import WaveNetConfig
from genlab.models.wavenet import WaveNet
from genlab.recipes import get_recipe
from genlab.runs import override
from genlab.sampling.tokens import generate

SMALL = dict(layers=3, stacks=2, residual_channels=8, gate_channels=8, skip_channels=16,
             quantization=16, num_classes=3, num_speakers=2)  # fmt: skip


def net(**kw) -> WaveNet:
    torch.manual_seed(0)
    return WaveNet(WaveNetConfig(**{**SMALL, **kw})).eval()


COND = {"class": torch.tensor([0, 2]), "speaker": torch.tensor([1, 0])}


def test_output_t_depends_only_on_codes_before_t():
    m = net()
    codes = torch.randint(16, (2, 40), generator=torch.Generator().manual_seed(0))
    base = m(codes, COND)
    assert base.shape == (2, 40, 16)
    t0 = 17
    changed = codes.clone()
    changed[:, t0] = (codes[:, t0] + 5) % 16
    out = m(changed, COND)
    assert torch.equal(out[:, : t0 + 1], base[:, : t0 + 1])  # positions <= t0 read codes < t0
    assert not torch.allclose(out[:, t0 + 1], base[:, t0 + 1])


def test_receptive_field():
    m = net()
    rf = m.cfg.receptive_field()
    assert rf == 2 * (2**3 - 1) + 1 == m.context
    codes = torch.randint(16, (1, 40), generator=torch.Generator().manual_seed(1))
    t = 35
    base = m(codes, COND | {k: v[:1] for k, v in COND.items()})[:, t]
    cond = {k: v[:1] for k, v in COND.items()}
    for back, same in ((rf + 1, True), (rf, False)):  # code t - rf is the oldest it reads
        c = codes.clone()
        c[0, t - back] = (c[0, t - back] + 7) % 16
        assert torch.equal(m(c, cond)[:, t], base) == same, back


def test_cached_steps_equal_the_full_pass():
    m = net()
    codes = torch.randint(16, (2, 30), generator=torch.Generator().manual_seed(2))
    full = m(codes, COND)
    cache, steps = m.new_cache(2), []
    new = codes[:, :0]
    for t in range(30):
        steps.append(m.step(new, COND, cache))
        new = codes[:, t : t + 1]
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)


@pytest.mark.parametrize("cfg", [0.0, 1.5])
def test_cached_generation_equals_uncached_token_for_token(cfg):
    m = net()
    null = {"class": torch.tensor(3), "speaker": torch.tensor(2)}
    kw = dict(cfg=cfg, null_cond=null, temperature=1.0)
    a = generate(m, 50, [3, 4], COND, use_cache=True, **kw)
    b = generate(m, 50, [3, 4], COND, use_cache=False, **kw)  # last receptive field only
    assert a.shape == (2, 50) and torch.equal(a, b)
    assert torch.equal(a, generate(m, 50, [3, 4], COND, use_cache=True, **kw))  # seeded


def test_missing_condition_uses_the_null_row():
    m = net()
    codes = torch.randint(16, (2, 10))
    explicit = m(codes, {"class": torch.tensor([3, 3]), "speaker": torch.tensor([2, 2])})
    assert torch.equal(m(codes, {}), explicit)


TINY = [
    "data.n=32", "data.length=256", "model.length=256", "model.layers=3", "model.stacks=1",
    "model.residual_channels=8", "model.gate_channels=8", "model.skip_channels=16",
    "model.quantization=32", "model.num_speakers=0", "model.num_classes=5",
    "objective.crop=0", "train.steps=150", "train.batch_size=16", "train.lr=5e-3",
    "train.warmup_steps=2", "train.log_every=5", "train.ckpt_every=150",
    "train.tensorboard=false", "data.name=tones",
]  # fmt: skip


def test_a_tiny_wavenet_learns_tones_and_samples_wavs(tmp_path, capsys):
    run = tmp_path / "wn"
    assert main(["train", "wavenet-fsdd", *TINY, "--out", str(run)]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[-1] < 0.75 * losses[0], losses  # from ln 32 = 3.47 nats
    capsys.readouterr()
    out = str(tmp_path / "s.wav")
    assert main(["sample", str(run), "--n", "3", "--class", "1", "--out", out]) == 0
    files = sorted((tmp_path / "s").iterdir())
    assert len(files) == 3 and sf.info(files[0]).frames == 256
    assert main(["sample", str(run), "--n", "1", "--out", str(tmp_path / "a.wav"),
                 "use_cache=false"]) == 0  # fmt: skip
    assert main(["sample", str(run), "--n", "1", "--out", str(tmp_path / "b.wav")]) == 0
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_a_wavenet_must_fit_its_data():
    from genlab.families.wavenet import build

    with pytest.raises(ConfigError, match=r"model.length: 4096 samples, but the data's clips"):
        build(override(get_recipe("wavenet-fsdd"), ["model.length=4096"]))
    with pytest.raises(ConfigError, match="'shapes' is not audio"):
        build(override(get_recipe("wavenet-fsdd"), ["data.name=shapes"]))


def test_cached_steps_in_double_precision():
    m = net().double()
    codes = torch.randint(16, (2, 12), generator=torch.Generator().manual_seed(3))
    cache, new, steps = m.new_cache(2), codes[:, :0], []
    for t in range(12):
        steps.append(m.step(new, COND, cache))
        new = codes[:, t : t + 1]
    assert torch.allclose(torch.stack(steps, 1), m(codes, COND), atol=1e-10)
