"""The CLIP-style dual encoder and the CLIP score: the contrastive loss on closed forms
(repeated captions are shared positives), a tiny dual encoder that learns to match its
captions, both scalings of the score, and ``genlab eval --metrics clip`` with its errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genlab.cli import main
from genlab.data import build_dataset
from genlab.families.contrastive import contrastive_loss
from genlab.metrics.clip import clip_cosines, clip_scores
from genlab.runs import load_model

SMALL = [
    "data.n=64", "data.image_size=8", "model.image_size=8", "model.width=8",
    "model.features=32", "model.text_dim=32", "model.embed_dim=16", "train.steps=60",
    "train.batch_size=32", "train.log_every=10", "train.ckpt_every=60", "train.warmup_steps=0",
    "train.lr=3e-3", "train.ema_halflife=5", "train.tensorboard=false",
]  # fmt: skip


def test_the_contrastive_loss_on_closed_forms():
    b = 4
    logits = torch.full((b, b), 0.0) + 10 * torch.eye(b)
    value, acc = contrastive_loss(logits, torch.arange(b))
    want = -math.log(math.exp(10) / (math.exp(10) + b - 1))
    torch.testing.assert_close(value, torch.full((b,), want))
    assert acc == 1
    # two pairs with one caption: each is a positive of the other (targets 1/2, 1/2)
    value, acc = contrastive_loss(torch.zeros(2, 2), torch.tensor([7, 7]))
    torch.testing.assert_close(value, torch.full((2,), math.log(2)))
    assert acc == 1  # either text is right
    # the loss is symmetric: transposing the logits changes nothing
    g = torch.Generator().manual_seed(0)
    logits, caption = torch.randn(5, 5, generator=g), torch.tensor([0, 1, 1, 2, 3])
    torch.testing.assert_close(
        contrastive_loss(logits, caption)[0].sum(), contrastive_loss(logits.T, caption)[0].sum()
    )


def test_both_clip_score_scalings():
    s = clip_scores(torch.tensor([0.5, -0.2]))
    assert s["clip_cos"] == pytest.approx(0.15)
    assert s["clip_score"] == pytest.approx(15.0)  # torchmetrics: max(100 mean cos, 0)
    assert s["clip_score_hessel"] == pytest.approx(2.5 * 0.5 / 2)  # Hessel: 2.5 max(cos, 0)
    assert clip_scores(torch.tensor([-0.3]))["clip_score"] == 0.0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    assert main(["train", "clip-shapes", *SMALL, "--out", str(d / "clip")]) == 0
    t2i = [
        "train.steps=4", "train.batch_size=8", "train.sample_every=0", "train.ckpt_every=4",
        "train.tensorboard=false", "sampler.steps=2", "data.image_size=8", "data.n=32",
        "model.image_size=8", "model.channels=16", "model.channel_mult=[1]",
        "model.attn_levels=[0]",
    ]  # fmt: skip
    assert main(["train", "t2i-shapes-words", *t2i, "--out", str(d / "t2i")]) == 0
    return d


def test_a_tiny_dual_encoder_learns_to_match_its_captions(runs):
    lines = (runs / "clip" / "metrics.jsonl").read_text().splitlines()
    logs = [json.loads(line) for line in lines if '"loss"' in line]
    assert logs[-1]["loss"] < 0.5 * logs[0]["loss"]
    exp, model = load_model(runs / "clip")
    data = build_dataset(exp.data)
    right = clip_cosines(model, data.x[:32], data.captions[:32])
    wrong = clip_cosines(model, data.x[:32], data.captions[32:64])
    assert right.mean() > wrong.mean() + 0.2


def test_eval_clip_on_a_text_run_and_its_errors(runs, tmp_path, capsys):
    out = tmp_path / "e.json"
    args = [
        "eval",
        str(runs / "t2i"),
        "--n",
        "4",
        "--metrics",
        "clip",
        "--clip",
        str(runs / "clip"),
    ]
    assert main([*args, "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert set(r["metrics"]) == {"clip_score", "clip_score_hessel", "clip_cos"}
    assert r["clip"]["run"] == str(runs / "clip") and len(r["clip"]["fingerprint"]) == 16
    npz = tmp_path / "s.npz"
    sample = ["sample", str(runs / "t2i"), "--n", "3", "--prompt", "a red circle", "--out"]
    assert main([*sample, str(npz)]) == 0
    real = ["eval", "--real", "shapes", "--fake", str(npz), "data.image_size=8", "--metrics"]
    assert main([*real, "clip", "--clip", str(runs / "clip")]) == 0
    bare = tmp_path / "bare.npz"
    np.savez(bare, x=np.load(npz)["x"])
    for argv, message in (
        ([*args[:-1], str(tmp_path / "none")], "--clip: " + str(tmp_path / "none")),
        ([*args[:-1], str(runs / "t2i")], "is a 'unet' run, not a dual encoder"),
        (
            [
                "eval",
                "--real",
                "digits",
                "--fake",
                str(npz),
                "--metrics",
                "clip",
                "--clip",
                str(runs / "clip"),
            ],
            "was trained on shapes images and captions; these samples are compared with digits",
        ),  # fmt: skip
        (
            [
                "eval",
                "--real",
                "shapes",
                "--fake",
                str(bare),
                "data.image_size=8",
                "--metrics",
                "clip",
                "--clip",
                str(runs / "clip"),
            ],
            "has no 'prompt' array",
        ),  # fmt: skip
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_a_dual_encoder_at_another_image_size_is_one_error(runs, tmp_path, capsys):
    t2i16 = tmp_path / "t2i16"
    tiny = ["train.steps=1", "train.batch_size=4", "train.sample_every=0",
            "train.tensorboard=false", "data.image_size=16", "data.n=16", "model.image_size=16",
            "model.channels=8", "model.channel_mult=[1]", "model.attn_levels=[0]"]  # fmt: skip
    assert main(["train", "t2i-shapes-words", *tiny, "--out", str(t2i16)]) == 0
    capsys.readouterr()
    argv = ["eval", str(t2i16), "--n", "2", "--metrics", "clip", "--clip", str(runs / "clip")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"reads 8x8 images; {t2i16} makes 16x16" in err and err.count("\n") == 1, err
