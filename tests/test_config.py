"""Typed configs: overrides are parsed by field type, unknown keys suggest the nearest,
invalid values name the key, and YAML round-trips exactly."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from genlab import config as C
from genlab.errors import ConfigError
from genlab.recipes import RECIPES, get_recipe
from genlab.runs import experiment_from as experiment_from_dict
from genlab.runs import override


@dataclass
class Inner:
    width: int = 8
    mult: tuple[int, ...] = (1, 2)
    pair: tuple[float, float] = (0.9, 0.99)


@dataclass
class Outer:
    name: str = "x"
    lr: float = 1e-3
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    limit: int | None = None
    inner: Inner = field(default_factory=Inner)


@pytest.mark.parametrize(
    "item, key, value",
    [
        ("lr=3e-4", "lr", 3e-4),
        ("flag=true", "flag", True),
        ("flag=0", "flag", False),
        ("mode=b", "mode", "b"),
        ("limit=none", "limit", None),
        ("limit=7", "limit", 7),
        ("inner.width=1e2", "inner.width", 100),
        ("inner.mult=1,2,4", "inner.mult", (1, 2, 4)),
        ("inner.mult=[3]", "inner.mult", (3,)),
        ("inner.pair=(0.5, 0.6)", "inner.pair", (0.5, 0.6)),
        ("name=hello=world", "name", "hello=world"),
    ],
)
def test_override_parses_by_type(item, key, value):
    cfg = C.apply_overrides(Outer(), [item])
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    assert obj == value and type(obj) is type(value)


@pytest.mark.parametrize(
    "item, message",
    [
        ("lr=fast", "lr: expected a number"),
        ("flag=maybe", "flag: expected true or false"),
        ("mode=c", "mode: 'c' is not one of a, b"),
        ("inner.width=2.5", "inner.width: expected an integer"),
        ("inner.pair=1,2,3", "inner.pair: expected 2 comma-separated values"),
        ("inner.widht=3", "unknown key 'inner.widht'; did you mean 'inner.width'?"),
        ("lr", "not of the form key=value"),
    ],
)
def test_override_errors_name_the_key(item, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        C.apply_overrides(Outer(), [item])


def test_overrides_do_not_mutate_the_original():
    cfg = Outer()
    C.apply_overrides(cfg, ["inner.width=3"])
    assert cfg.inner.width == 8


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_round_trips_through_yaml(name, tmp_path):
    exp = get_recipe(name)
    C.save_yaml(exp, tmp_path / "config.yaml")
    back = experiment_from_dict(C.load_yaml(tmp_path / "config.yaml"))
    assert back == exp
    assert C.dump_yaml(back) == C.dump_yaml(exp)


def test_experiment_overrides_check_sections_and_swap_tagged_types():
    exp = get_recipe("rf-grid25")
    moved = override(exp, ["data.name=moons", "data.std=0.1", "train.lr=0.01"])
    assert type(moved.data).__name__ == "MoonsConfig" and moved.data.std == 0.1
    assert moved.train.lr == 0.01 and exp.train.lr != 0.01
    with pytest.raises(ConfigError, match="objective.kind: selects the section"):
        override(exp, ["objective.kind=gan"])
    with pytest.raises(ConfigError, match="train.batch_size: 100 is not divisible"):
        override(exp, ["train.batch_size=100", "train.grad_accum=3"])
    with pytest.raises(ConfigError, match="data.name: unknown dataset 'mnsit'"):
        override(exp, ["data.name=mnsit"])


def test_loading_rejects_unknown_and_mistyped_keys():
    raw = C.to_dict(get_recipe("rf-moons"))
    raw["train"]["stepz"] = 3
    with pytest.raises(ConfigError, match="unknown key 'train.stepz'; did you mean 'train.steps'"):
        experiment_from_dict(raw)
    raw = C.to_dict(get_recipe("rf-moons"))
    raw["train"]["steps"] = "many"
    with pytest.raises(ConfigError, match="train.steps: expected an integer"):
        experiment_from_dict(raw)


def test_load_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="config.yaml: not valid YAML"):
        C.load_yaml(bad)
    with pytest.raises(ConfigError, match="nope.yaml: no such file"):
        C.load_yaml(tmp_path / "nope.yaml")
