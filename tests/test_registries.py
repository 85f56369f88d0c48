"""The torch-free registries (configs, names, one-line docs) agree with the modules that
implement them, and the first-contact commands never import torch (issue 15, kind 8)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest
import torch

from genlab.data import DATASETS, build_dataset
from genlab.families import FAMILY_NAMES, KINDS, family_of, get_family
from genlab.models import MODELS, PRESETS, build_model
from genlab.models.configs import ATTENTION_MODES
from genlab.nn.attention import MODES
from genlab.objectives.configs import ALPHA_ZERO_AT_1, DenoiseConfig
from genlab.paths import PATHS, build_path
from genlab.recipes import get_recipe
from genlab.sampling import GRIDS, SAMPLER_INFO, SAMPLERS, STOCHASTIC
from genlab.sampling import grids as grid_module

# Commands a new user runs first; none of them may pay for importing torch.
FAST = [
    ["--help"],
    ["list"],
    ["list", "--json"],
    ["list", "samplers"],
    ["train", "rf-grid25", "--dry-run"],
    ["train", "ddpm-mnist", "--dry-run", "model.arch=dit", "data.name=fashion-mnist"],
    ["train", "pacgan-mix-grid25", "--dry-run", "sampler.truncation=0.7"],
    ["train", "vqvae-mnist", "--dry-run"],
]


@pytest.mark.parametrize("argv", FAST, ids=" ".join)
def test_first_contact_commands_do_not_import_torch(argv):
    code = (
        "import sys\n"
        "from genlab.cli import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        "assert rc in (0, None), rc\n"
        "heavy = sorted(m for m in sys.modules if m == 'torch' or m.startswith('numpy'))\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout.splitlines()[-1]


def test_every_model_spec_builds_its_network_from_its_config():
    for arch, spec in MODELS.items():
        module, name = spec.network.split(":")
        assert callable(getattr(importlib.import_module(module), name)), arch
        assert spec.config().arch == arch
        assert isinstance(spec.build(spec.config()), torch.nn.Module), arch  # class or builder
    for name, cfg in PRESETS.items():
        if cfg.arch in ("mlp", "gan-mlp"):  # the small ones: build and count parameters
            assert sum(p.numel() for p in build_model(cfg).parameters()) > 0, name


def test_attention_modes_agree():
    assert ATTENTION_MODES == MODES


def test_every_dataset_spec_names_a_loader_of_its_config():
    for name, spec in DATASETS.items():
        module, fn = spec.loader.split(":")
        loader = getattr(importlib.import_module(module), fn)
        assert callable(loader), name
        (param,) = inspect.signature(loader).parameters.values()
        assert spec.config().name == name
    ds = build_dataset(DATASETS["ring8"].config(n=16))
    assert ds.modality == DATASETS["ring8"].modality and ds.num_classes == 8


def test_sampler_registry_matches_the_functions():
    assert list(SAMPLERS) == list(SAMPLER_INFO)
    for name, (module, doc) in SAMPLER_INFO.items():
        fn = SAMPLERS[name]
        assert fn.__module__ == f"genlab.sampling.{module}" and fn.__name__ == name
        assert doc and "\n" not in doc and len(doc) < 80
    assert set(STOCHASTIC) <= set(SAMPLERS)
    assert grid_module.GRIDS is GRIDS
    for g in GRIDS:
        assert len(grid_module.make_grid(g, 4, build_path("linear"))) == 5


def test_unknown_lazy_name_is_an_attribute_error():
    import genlab.sampling

    with pytest.raises(AttributeError, match="no attribute 'eulr'"):
        genlab.sampling.eulr  # noqa: B018


def test_paths_with_pure_noise_at_t1_are_the_ones_eps_is_refused_on():
    one = torch.ones((), dtype=torch.float64)
    zero = {p for p in PATHS if float(build_path(p).alpha(one)) == 0}
    assert zero == set(ALPHA_ZERO_AT_1)
    for p in PATHS:
        if p not in zero:
            DenoiseConfig(path=p, target="eps")  # accepted


def test_every_kind_belongs_to_the_family_module_it_names():
    assert set(FAMILY_NAMES) == {k.family for k in KINDS.values()}
    for kind, k in KINDS.items():
        assert family_of(kind) is get_family(k.family)
        assert get_family(k.family).name == k.family
        assert k.objective().kind == kind


def test_class_conditional_point_recipe_matches_its_data():
    exp = get_recipe("rf-moons")
    assert exp.model.num_classes == build_dataset(exp.data).num_classes == 2
