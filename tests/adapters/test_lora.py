"""LoRA through PEFT: fresh adapters leave the network exactly as it was, only they train,
scale 0 is the base exactly, merge then unmerge restores the weights, the adapter file
holds the adapter alone, and `--lora RUN:SCALE` adds one when sampling."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.adapters import lora as L
from genlab.checkpoint import load_tensors
from genlab.cli import main
from genlab.errors import CheckpointError, ConfigError
from genlab.experiment import LoRAConfig
from genlab.models import build_model, preset
from genlab.models.configs import MLPConfig
from genlab.recipes.diffusion import controlnet, lora_shapes
from genlab.runs import draw, fit, load_model, override, sampler_config


def _unet(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(preset("unet-tiny", image_size=8, in_channels=3, channels=16, num_classes=3))


def _inputs():
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn(3, 3, 8, 8, generator=g), torch.rand(3, generator=g)
    return x, t, {"class": torch.tensor([0, 2, 3])}  # 3: the null class


def _perturb(model, std: float = 0.1) -> None:
    """Stand in for training: give every B (zero at the start) a value."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n or "lora_embedding_B" in n:
                p.normal_(0, std)


def test_fresh_adapters_change_nothing_and_only_they_train():
    net = _unet()
    x, t, c = _inputs()
    y = net(x, t, c)
    L.add_lora(net, LoRAConfig(rank=4))
    assert torch.equal(net(x, t, c), y)  # B = 0
    train = [n for n, p in net.named_parameters() if p.requires_grad]
    assert train and all("lora_" in n for n in train)
    lora, base = L.trainable_fraction(net)
    assert lora == sum(p.numel() for n, p in net.named_parameters() if p.requires_grad)
    assert base == sum(p.numel() for p in _unet().parameters())


def test_target_modules_pick_layers_by_kind():
    net = _unet()
    attn = L.target_modules(net, "attention")
    assert attn and all(n.rsplit(".", 1)[1] in ("qkv", "out") for n in attn)
    linear = L.target_modules(net, "linear")
    assert set(attn) < set(linear)
    every = L.target_modules(net, "all")
    assert "label.table" in every and set(linear) < set(every)  # + convs and embeddings
    assert all(isinstance(dict(net.named_modules())[n], torch.nn.Linear) for n in linear)
    with pytest.raises(ConfigError, match="no attention layers"):
        L.target_modules(build_model(MLPConfig(dim=2)), "attention")


def test_save_load_scale_merge_unmerge(tmp_path):
    net = _unet()
    x, t, c = _inputs()
    y_base = net(x, t, c)
    L.add_lora(net, LoRAConfig(rank=4, alpha=8))
    _perturb(net)
    y_full = net(x, t, c)
    assert (y_full - y_base).abs().max() > 1e-3
    L.save_adapter(net, LoRAConfig(rank=4, alpha=8), tmp_path, "runs/base", "abc123")
    saved = load_tensors(tmp_path / L.ADAPTER_WEIGHTS)
    assert saved and all("lora_" in k for k in saved)  # the adapter alone
    meta = json.loads((tmp_path / L.ADAPTER_CONFIG).read_text())
    assert (meta["r"], meta["lora_alpha"], meta["revision"]) == (4, 8, "abc123")

    fresh = _unet()  # the same base, adapter loaded from the files
    assert L.load_adapter(fresh, tmp_path, "a", 1.0) == ("runs/base", "abc123")
    torch.testing.assert_close(fresh(x, t, c), y_full, atol=1e-6, rtol=0)
    L.set_scale(fresh, 0.0, "a")
    assert torch.equal(fresh(x, t, c), y_base)  # scale 0: the base exactly
    L.set_scale(fresh, 0.5, "a")
    y_half = fresh(x, t, c)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    L.merge(fresh)
    torch.testing.assert_close(fresh(x, t, c), y_half, atol=1e-6, rtol=0)
    assert any(not torch.equal(fresh.state_dict()[k], v) for k, v in before.items())
    L.unmerge(fresh)
    for k, v in before.items():
        torch.testing.assert_close(fresh.state_dict()[k], v, atol=1e-6, rtol=0)


def test_two_adapters_add_and_scale_apart(tmp_path):
    net = _unet()
    x, t, c = _inputs()
    y_base = net(x, t, c)
    deltas = []
    for i in range(2):
        m = _unet()
        L.add_lora(m, LoRAConfig(rank=2))
        torch.manual_seed(10 + i)
        _perturb(m, 0.05)
        deltas.append(m(x, t, c) - y_base)
        L.save_adapter(m, LoRAConfig(rank=2), tmp_path / str(i))
    both = _unet()
    L.load_adapter(both, tmp_path / "0", "a", 1.0)
    L.load_adapter(both, tmp_path / "1", "b", 1.0)
    L.set_scale(both, 0.0, "a")
    torch.testing.assert_close(both(x, t, c) - y_base, deltas[1], atol=1e-5, rtol=0)


def test_peft_itself_loads_the_saved_adapter(tmp_path):
    from peft import PeftModel

    net = _unet()
    x, t, c = _inputs()
    L.add_lora(net, LoRAConfig(rank=4, alpha=8))
    _perturb(net)
    want = net(x, t, c)
    L.save_adapter(net, LoRAConfig(rank=4, alpha=8), tmp_path)
    peft_model = PeftModel.from_pretrained(_unet(), str(tmp_path))
    torch.testing.assert_close(peft_model.base_model.model(x, t, c), want, atol=1e-6, rtol=0)


def test_an_adapter_for_another_network_is_refused(tmp_path):
    m = _unet()
    L.add_lora(m, LoRAConfig(rank=2))
    L.save_adapter(m, LoRAConfig(rank=2), tmp_path / "a")
    torch.manual_seed(0)
    wider = build_model(
        preset("unet-tiny", image_size=8, in_channels=3, channels=32, num_classes=3)
    )
    with pytest.raises(CheckpointError, match="does not fit this network: size mismatch") as e:
        L.load_adapter(wider, tmp_path / "a")
    assert "\n" not in str(e.value) and "more)" in str(e.value)  # one line
    with pytest.raises(CheckpointError, match="lacks"):
        L.load_adapter(build_model(MLPConfig(dim=2)), tmp_path / "a")
    with pytest.raises(CheckpointError, match="not a LoRA adapter"):
        L.load_adapter(_unet(), tmp_path)
    with pytest.raises(ConfigError, match="lora.rank"):
        LoRAConfig(rank=-1)


TINY = [
    "train.steps=4",
    "train.batch_size=8",
    "train.sample_every=0",
    "train.ckpt_every=2",
    "train.num_samples=6",
    "train.tensorboard=false",
    "train.warmup_steps=0",
    "sampler.steps=3",
    "data.image_size=8",
    "data.n=64",
    "model.image_size=8",
    "model.channels=16",
    "model.channel_mult=[1]",
    "model.attn_levels=[0]",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("lora")
    args = ["train", "rf-shapes", *TINY, "data.exclude=cyan", "--out", str(d / "base")]
    assert main(args) == 0
    exp = override(lora_shapes(), [*TINY, "data.n=16", f"train.init_from={d / 'base'}"])
    fit(exp, d / "lora")
    return d


def test_training_moves_only_the_adapters(runs):
    base = load_tensors(runs / "base" / "ema.safetensors")
    trained = load_tensors(runs / "lora" / "model.safetensors")
    lora = {k: v for k, v in trained.items() if "lora_" in k}
    assert lora and any(v.abs().sum() > 0 for k, v in lora.items() if "lora_B" in k)
    for k, v in trained.items():  # the rest is the base, exactly
        if "lora_" not in k:
            assert torch.equal(v, base[k.replace(".base_layer", "")]), k
    adapter = load_tensors(runs / "lora" / "adapter" / L.ADAPTER_WEIGHTS)
    assert len(adapter) == len(lora) and all("lora_" in k for k in adapter)
    meta = json.loads((runs / "lora" / "adapter" / L.ADAPTER_CONFIG).read_text())
    assert meta["base_model_name_or_path"] == str((runs / "base").resolve())
    assert (
        meta["revision"]
        == json.loads((runs / "lora" / "lora_base.json").read_text())["fingerprint"]
    )


def test_lora_on_the_base_at_scale_0_and_1(runs):
    exp, base = load_model(runs / "base")
    scfg = sampler_config(exp)
    cond = {"class": torch.tensor([5, 0])}
    x0 = draw(base, exp, [0, 1], cond, scfg)
    _, off = load_model(runs / "base", lora=[f"{runs / 'lora'}:0"])
    assert torch.equal(draw(off, exp, [0, 1], cond, scfg), x0)
    exp_l, tuned = load_model(runs / "lora")  # the LoRA run itself: scale 1
    x1 = draw(tuned, exp_l, [0, 1], cond, scfg)
    _, on = load_model(runs / "base", lora=[str(runs / "lora" / "adapter")])
    torch.testing.assert_close(draw(on, exp, [0, 1], cond, scfg), x1, atol=1e-4, rtol=0)
    assert not torch.equal(x1, x0)


def test_resume_is_exact(runs, tmp_path):
    exp = override(lora_shapes(), [*TINY, "data.n=16", f"train.init_from={runs / 'base'}"])
    half = override(exp, ["train.stop_after=2"])
    fit(half, tmp_path / "r")
    fit(exp, tmp_path / "r", resume=True)
    a = load_tensors(tmp_path / "r" / "ema.safetensors")
    b = load_tensors(runs / "lora" / "ema.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_an_adapter_missing_or_older_than_the_weights_is_written_again(runs, tmp_path):
    import shutil

    run = tmp_path / "lora"
    shutil.copytree(runs / "lora", run)
    shutil.rmtree(run / "adapter")  # as a run interrupted before its end leaves it
    _, model = load_model(runs / "base", lora=[str(run)])
    assert (run / "adapter" / L.ADAPTER_WEIGHTS).is_file()
    a = load_tensors(run / "adapter" / L.ADAPTER_WEIGHTS)
    b = load_tensors(runs / "lora" / "adapter" / L.ADAPTER_WEIGHTS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_eval_records_the_adapter_it_sampled_with(runs, tmp_path):
    out = tmp_path / "e.json"
    args = ["eval", str(runs / "base"), "--n", "4", "--metrics", "fid", "--json", str(out)]
    args += ["--extractor", "inception-random", "--lora", f"{runs / 'lora'}:0.5"]
    assert main(args) == 0
    assert json.loads(out.read_text())["lora"] == [f"{runs / 'lora'}:0.5"]


def test_info_shows_the_adapter(runs, capsys):
    assert main(["info", str(runs / "lora")]) == 0
    out = capsys.readouterr().out
    assert "LoRA        rank 4, alpha 4 on all layers of" in out and "adapter:" in out


def test_cli_lora_and_its_errors(runs, tmp_path, capsys):
    out = tmp_path / "s.png"
    ok = ["sample", str(runs / "base"), "--n", "2", "--out", str(out)]
    assert main([*ok, "--lora", f"{runs / 'lora'}:0.5"]) == 0 and out.is_file()
    assert main([*ok, "--lora", str(tmp_path / "nothing")]) == 2
    assert "--lora" in capsys.readouterr().err
    assert main([*ok, "--lora", f"{runs / 'lora'}:nan"]) == 2
    assert "finite" in capsys.readouterr().err
    assert main([*ok, "--lora", f"{runs / 'lora'}:abc"]) == 2
    assert "the scale 'abc' is not a number" in capsys.readouterr().err
    assert main([*ok, "--lora", str(runs / "base")]) == 2
    assert "is not a LoRA run" in capsys.readouterr().err
    assert main([*ok, "--weights", "model", "--lora", str(runs / "lora")]) == 0
    assert "was trained on" not in capsys.readouterr().err  # its own base: no warning
    exp = override(lora_shapes(), ["train.init_from=", "train.steps=1"])
    with pytest.raises(ConfigError, match="lora.rank: LoRA adapts a trained run"):
        fit(exp, tmp_path / "run")
    exp = override(lora_shapes(), [*TINY, f"train.init_from={runs / 'lora'}"])
    with pytest.raises(ConfigError, match="is a LoRA run; name its base run"):
        fit(exp, tmp_path / "run")
    cn = override(controlnet("shapes"), [*TINY, f"train.init_from={runs / 'base'}", "lora.rank=2"])
    with pytest.raises(ConfigError, match="a ControlNet trains its copy in full"):
        fit(cn, tmp_path / "run")
    assert not (tmp_path / "run").exists()
