"""Runs that depend on runs pin them: a token model records its tokenizer's location
(relative to the run directory) and weights fingerprint. Sampling works from any working
directory and after the run tree is moved; a retrained tokenizer is a clear error unless
--accept-changed-deps; another run's network loads once per process."""

from __future__ import annotations

import json
import shutil

import numpy as np

from genlab.cli import main

TINY = ["data.n=64", "data.image_size=16", "model.image_size=16", "train.batch_size=16",
        "train.sample_every=0", "train.num_samples=8", "train.tensorboard=false",
        "train.warmup_steps=1", "train.threads=1"]  # fmt: skip
GPT = ["model.vocab_size=32", "model.seq_len=16", "model.n_embd=32", "model.n_layer=1",
       "data.n=64", "data.image_size=16", "train.batch_size=16", "train.sample_every=0",
       "train.num_samples=8", "train.tensorboard=false", "train.warmup_steps=1"]  # fmt: skip


def sample(run, out, *extra) -> tuple[int, np.ndarray | None]:
    code = main(["sample", str(run), "--n", "3", "--class", "1", "--out", str(out), *extra])
    return code, (np.load(out)["x"] if code == 0 else None)


def test_a_token_run_pins_its_tokenizer(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    vq_args = ["vqvae-shapes", "model.codebook_size=32", "model.channels=8", *TINY]
    assert main(["train", *vq_args, "train.steps=3", "train.ckpt_every=3", "--out", "runs/vq"]) == 0
    gpt_args = ["vq-gpt-shapes", "objective.tokenizer=runs/vq", *GPT, "train.steps=2"]
    assert main(["train", *gpt_args, "--out", "runs/gpt"]) == 0
    pins = json.loads((tmp_path / "runs/gpt/dependencies.json").read_text())
    assert pins["objective.tokenizer"]["path"] == "../vq"
    assert len(pins["objective.tokenizer"]["fingerprint"]) == 16
    code, ref = sample(tmp_path / "runs/gpt", tmp_path / "a.npz")
    assert code == 0

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # another working directory: still found
    assert np.array_equal(sample(tmp_path / "runs/gpt", tmp_path / "b.npz")[1], ref)
    shutil.move(tmp_path / "runs", tmp_path / "moved")  # the whole tree moved
    assert np.array_equal(sample(tmp_path / "moved/gpt", tmp_path / "c.npz")[1], ref)

    monkeypatch.chdir(tmp_path / "moved")  # retrain the tokenizer: its weights change
    assert main(["train", "vqvae-shapes", "train.steps=5", "--resume", "--out", "vq"]) == 0
    capsys.readouterr()
    code, _ = sample(tmp_path / "moved/gpt", tmp_path / "d.npz")
    err = capsys.readouterr().err
    assert code == 2 and "objective.tokenizer" in err and "has changed" in err
    assert "--accept-changed-deps" in err and not (tmp_path / "d.npz").exists()
    code, x = sample(tmp_path / "moved/gpt", tmp_path / "d.npz", "--accept-changed-deps")
    assert code == 0 and not np.array_equal(x, ref)
    capsys.readouterr()
    assert main(["info", str(tmp_path / "moved/gpt")]) == 0  # info needs no flag: it reports
    assert "CHANGED: its weights are now" in capsys.readouterr().out

    # Resuming with the changed tokenizer accepted trains on it: the new weights are pinned.
    old = json.loads((tmp_path / "moved/gpt/dependencies.json").read_text())
    gpt_more = ["vq-gpt-shapes", "objective.tokenizer=runs/vq", "train.steps=3", "--resume"]
    assert main(["train", *gpt_more, "--out", "gpt"]) == 2  # refused without the flag
    assert main(["train", *gpt_more, "--out", "gpt", "--accept-changed-deps"]) == 0
    new = json.loads((tmp_path / "moved/gpt/dependencies.json").read_text())
    tok, was = new["objective.tokenizer"], old["objective.tokenizer"]
    assert tok["path"] == was["path"] and tok["fingerprint"] != was["fingerprint"]
    assert sample(tmp_path / "moved/gpt", tmp_path / "e.npz")[0] == 0  # no flag needed now
    # A resume that trains no step (the run is finished) pins nothing new.
    assert main(["train", "vqvae-shapes", "train.steps=7", "--resume", "--out", "vq"]) == 0
    assert main(["train", *gpt_more, "--out", "gpt", "--accept-changed-deps"]) == 0
    assert json.loads((tmp_path / "moved/gpt/dependencies.json").read_text()) == new

    shutil.rmtree(tmp_path / "moved/vq")  # gone: a clear error naming it
    capsys.readouterr()
    code, _ = sample(tmp_path / "moved/gpt", tmp_path / "f.npz")
    assert code == 2 and "objective.tokenizer" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "moved/gpt"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dependencies"]["objective.tokenizer"]["status"] == "missing"


def test_load_network_loads_once_per_process(tmp_path, monkeypatch):
    import genlab.models as models
    from genlab.checkpoint import load_network

    monkeypatch.chdir(tmp_path)
    vq_args = ["vqvae-shapes", "model.codebook_size=32", "model.channels=8", *TINY]
    assert main(["train", *vq_args, "train.steps=1", "train.ckpt_every=1", "--out", "vq"]) == 0
    assert main(["train", "vq-gpt-shapes", "objective.tokenizer=vq", *GPT, "train.steps=1",
                 "--out", "gpt"]) == 0  # fmt: skip
    built, real = [], models.build_model

    def counting(cfg):
        built.append(cfg.arch)
        return real(cfg)

    monkeypatch.setattr(models, "build_model", counting)
    first = load_network(tmp_path / "vq", "model")
    for _ in range(3):
        sample(tmp_path / "gpt", tmp_path / "x.npz")
    assert load_network(tmp_path / "vq", "model") is first
    assert built.count("vqvae") == 0  # loaded above already: never rebuilt
    assert not first.module.training and not any(p.requires_grad for p in first.module.parameters())


def test_resume_repeating_the_original_command_of_a_dependent_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    vq_args = ["vqvae-shapes", "model.codebook_size=32", "model.channels=8", *TINY]
    assert main(["train", *vq_args, "train.steps=1", "train.ckpt_every=1", "--out", "vq"]) == 0
    gpt = ["train", "vq-gpt-shapes", "objective.tokenizer=vq", *GPT, "--out", "gpt"]
    assert main([*gpt, "train.steps=2"]) == 0
    assert main([*gpt, "train.steps=3", "--resume"]) == 0  # the same tokenizer value
    assert main([*gpt, "train.steps=2", "--resume"]) == 2  # fewer steps than done
