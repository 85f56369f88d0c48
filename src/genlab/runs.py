"""Run directories: create one without touching anything that exists, resolve its
config, train it (through its family's ``fit``), load it back and sample it.

See ``genlab.checkpoint`` for the files a run holds. A run that reads other runs (a
tokenizer, a codec, a teacher) pins them in ``RUN/dependencies.json``: each one's
location relative to the run directory (so run trees can be moved together) and the
fingerprint of its weights. Loading checks both: a moved-away or retrained dependency is
a clear error, unless ``accept_changed=True`` says to use it anyway.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

import genlab.config as C
from genlab.checkpoint import (
    checkpoints,
    last_step,
    load_into,
    load_network,
    load_tensors,
    weights_digest,
)
from genlab.errors import CheckpointError, ConfigError, GenlabError
from genlab.experiment import Experiment, experiment_from_dict
from genlab.experiment import override as _override
from genlab.families import family_of, kind_types
from genlab.families.base import continue_video, rollout_window
from genlab.families.diffusion import check_forcing_sampler, heldout_prompts, text_cond
from genlab.sampling.classes import (
    CLASS_PRIOR,
    class_cond,
    class_prior,
    pin_class_prior,
)

DEPENDENCIES = "dependencies.json"


def override(exp: Experiment, overrides: list[str]) -> Experiment:
    """``exp`` with ``key=value`` overrides applied and type-checked."""
    return _override(exp, list(overrides), kind_types)


def experiment_from(raw: dict, source: str = "config") -> Experiment:
    """An :class:`Experiment` from a plain dict (``config.yaml``'s content)."""
    return experiment_from_dict(raw, kind_types, source)


def load_experiment(
    run_dir: Path, accept_changed: bool = False, missing_ok: bool = False
) -> Experiment:
    """The experiment stored in ``RUN/config.yaml``, with every pinned dependency
    resolved to its checked location (see :func:`resolve_dependencies`)."""
    return resolve_dependencies(read_experiment(run_dir), run_dir, accept_changed, missing_ok)


def experiment_to_sample(run_dir: Path, accept_changed: bool = False) -> Experiment:
    """:func:`load_experiment` for sampling: the dependencies of a family that samples
    alone (``Family.samples_alone``: a distilled student and its teacher) may be gone or
    changed."""
    exp = read_experiment(run_dir)
    alone = family_of(exp.objective.kind).samples_alone
    return resolve_dependencies(exp, Path(run_dir), accept_changed or alone, missing_ok=alone)


def read_experiment(run_dir: Path) -> Experiment:
    """The experiment stored in ``RUN/config.yaml`` as written (dependencies unresolved).

    Raises:
        CheckpointError: no such directory, no ``config.yaml``, or one that does not parse.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a genlab run (no config.yaml)")
    try:
        return experiment_from(C.load_yaml(path), str(path))
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None


# ---------------------------------------------------------------------- dependencies


def _set_key(exp: Experiment, key: str, value: str) -> None:
    section, name = key.split(".", 1)
    setattr(getattr(exp, section), name, value)


def pin_dependencies(exp: Experiment, run_dir: Path) -> None:
    """Write ``RUN/dependencies.json``: for each run ``exp`` reads, its location
    (relative to ``run_dir``) and weights fingerprint. Raises :class:`ConfigError` naming
    the config key when a dependency is not a trained run."""
    deps = family_of(exp.objective.kind).dependencies(exp)
    if not deps:
        return
    pins = {}
    for key, (where, weights) in deps.items():
        dep = Path(where)
        if not (dep / f"{weights}.safetensors").is_file():
            raise ConfigError(
                f"{key}: {dep} is not a trained run (no {weights}.safetensors); train it "
                f"first: `genlab train {dep.name} --out {dep}` if {dep.name} is its recipe "
                "(`genlab list recipes`)"
            )
        pins[key] = {
            "path": os.path.relpath(dep.resolve(), Path(run_dir).resolve()),
            "weights": weights,
            "fingerprint": load_network(dep, weights).fingerprint,
        }
    C.atomic_write_text(Path(run_dir) / DEPENDENCIES, json.dumps(pins, indent=1) + "\n")


def dependency_status(run_dir: Path) -> dict[str, dict]:
    """Each pin of ``RUN/dependencies.json`` (``path``, ``weights``, ``fingerprint``) with
    ``at``, the location it resolves to now, and ``status``: ``"ok"``, ``"changed"``
    (``found`` holds the fingerprint now), ``"missing"`` or ``"unreadable"`` (``error``
    says why). ``{}`` for a run that reads
    no other run; :class:`CheckpointError` if the file is unreadable."""
    path = Path(run_dir) / DEPENDENCIES
    if not path.is_file():
        return {}
    try:
        pins = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable ({e})") from None
    out = {}
    for key, pin in pins.items():
        dep = (Path(run_dir) / pin["path"]).resolve()
        row = {**pin, "at": str(dep), "status": "missing"}
        if (dep / f"{pin['weights']}.safetensors").is_file():
            try:
                row["found"] = load_network(dep, pin["weights"]).fingerprint  # cached
                row["status"] = "ok" if row["found"] == pin["fingerprint"] else "changed"
            except GenlabError as e:  # a damaged checkpoint or config
                row["status"], row["error"] = "unreadable", str(e)
        out[key] = row
    return out


def resolve_dependencies(
    exp: Experiment, run_dir: Path, accept_changed: bool, missing_ok: bool = False
) -> Experiment:
    """``exp`` with each pinned dependency's config key set to its location as pinned
    (relative to ``run_dir``), after checking its fingerprint. Raises
    :class:`CheckpointError` naming the key for a changed dependency (unless
    ``accept_changed``) or a missing one (unless ``missing_ok``: the key stays as written).
    """
    where = Path(run_dir) / DEPENDENCIES
    for key, dep in dependency_status(run_dir).items():
        if dep["status"] in ("missing", "unreadable") and missing_ok:
            continue
        if dep["status"] == "unreadable":
            raise CheckpointError(f"{key}: {dep['error']}")
        if dep["status"] == "missing":
            raise CheckpointError(
                f"{key}: {run_dir} was trained on the run at {dep['at']}, which is gone "
                f"(pinned in {where}); move it back or retrain"
            )
        if dep["status"] == "changed" and not accept_changed:
            raise CheckpointError(
                f"{key}: {dep['at']} has changed since {run_dir} was trained on it (weights "
                f"{dep['found']}, pinned {dep['fingerprint']}); retrain this run, or pass "
                "--accept-changed-deps to use the changed run anyway"
            )
        _set_key(exp, key, dep["at"])
    return exp


# --------------------------------------------------------------------------- training


def prepare_run(
    exp: Experiment,
    out: Path,
    *,
    resume: bool,
    overrides: list[str],
    write: bool = True,
    accept_changed: bool = False,
) -> tuple[Experiment, Path]:
    """Check the run directory and write ``config.yaml``; return the experiment to train.

    A new run refuses an existing non-empty directory (checked by the writing rank only).
    ``resume`` needs an existing run; its stored config is used, and only ``train.*``
    overrides (say, more ``train.steps``) may change it.
    """
    out = Path(out)
    if resume:
        stored = load_experiment(out, accept_changed)
        written = experiment_from(C.load_yaml(out / "config.yaml"))  # dependencies as given
        train_only = []
        for o in overrides:  # repeating the original command is fine; a change is not
            key = o.split("=", 1)[0].strip()
            if key.startswith("train."):
                train_only.append(o)
            elif override(written, [o]) != written:
                raise ConfigError(f"{key}: only train.* settings can change when resuming {out}")
        # The rest repeat what is written: the stored experiment (dependencies resolved
        # from the run directory, not from this working directory) keeps them.
        exp = override(stored, train_only)
        done = last_step(out)
        if exp.train.steps < done:
            raise ConfigError(
                f"train.steps: {exp.train.steps} is below the {done} steps {out} has done"
            )
        if write and exp.train != stored.train:
            raw = C.load_yaml(out / "config.yaml")  # keep dependencies as written
            raw["train"] = C.to_dict(exp.train)
            C.atomic_write_text(out / "config.yaml", C.dump_yaml(experiment_from(raw)))
        return exp, out
    # Only the writing rank checks: under torchrun, rank 0 may already have created `out`.
    if write and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GenlabError(
            f"{out}: already exists; pass --resume to continue it, "
            "or --out to start a new run elsewhere"
        )
    if write:
        out.mkdir(parents=True, exist_ok=True)
        C.save_yaml(exp, out / "config.yaml")
        pin_dependencies(exp, out)
    return exp, out


def discard_unstarted(out: Path) -> bool:
    """Remove a new run directory that a failure left with nothing trained in it.

    Called when a new run fails (say, a tokenizer run it names is missing): if no
    checkpoint and no logged step exist, the directory holds only the config this run
    wrote, so removing it leaves the disk as it was. Returns whether it was removed.
    """
    metrics = out / "metrics.jsonl"
    if not out.is_dir() or checkpoints(out) or (metrics.is_file() and metrics.stat().st_size):
        return False
    shutil.rmtree(out)
    return True


def fit(
    exp: Experiment,
    out: str | Path,
    *,
    resume: bool = False,
    overrides: list[str] = (),
    write: bool = True,
    accept_changed: bool = False,
) -> Path:
    """Train ``exp`` into run directory ``out`` (or continue it with ``resume=True``)
    through its family's ``fit``.

    The Python twin of ``genlab train``: the same checks, files and exact resume. Only a
    process with ``write`` (rank 0 under torchrun) writes the config or cleans up a new
    run that failed before training anything.
    """
    out = Path(out)
    if getattr(exp.sampler, "autoguidance", "") or any(
        sampler_values(list(overrides), "autoguidance")
    ):
        raise ConfigError(
            "sampler.autoguidance: a setting for genlab sample, edit and eval; a run does "
            "not store it"
        )
    created = not resume and not out.exists()
    try:
        exp, out = prepare_run(
            exp,
            out,
            resume=resume,
            overrides=list(overrides),
            write=write,
            accept_changed=accept_changed,
        )
        before = last_step(out) if resume else 0
        if exp.lora.rank and write and not resume:
            pin_lora_base(exp, out)
        if write and not (out / CLASS_PRIOR).exists():
            pin_class_prior(exp, out)
        try:
            out = family_of(exp.objective.kind).fit(exp, out, resume)
        except (Exception, KeyboardInterrupt):
            if exp.lora.rank and write and last_step(out):  # keep what was trained
                with contextlib.suppress(Exception):
                    export_adapter(exp, out)
            raise
        if exp.lora.rank and write:
            export_adapter(exp, out)
        if resume and accept_changed and write and last_step(out) > before:
            pin_dependencies(exp, out)  # it has trained on the changed weights: pin them
        return out
    except (Exception, KeyboardInterrupt):
        if created and write:
            discard_unstarted(out)  # nothing trained: leave no half-made run behind
        raise


# --------------------------------------------------------------------------- sampling


ADAPTER_DIR = "adapter"  # RUN/adapter: a LoRA run's adapter in PEFT's layout
LORA_BASE = "lora_base.json"  # RUN/lora_base.json: the base a LoRA run started from


def pin_lora_base(exp: Experiment, run_dir: Path) -> None:
    """Record, as a LoRA run starts, its base run (absolute path) and the base's EMA
    fingerprint in ``RUN/lora_base.json``: what its adapter fits, whatever happens to the
    base later."""
    base = Path(exp.train.init_from)
    if not (base / "ema.safetensors").is_file():
        return  # the family refuses a missing base with a clear error
    pin = {"path": str(base.resolve()), "fingerprint": load_network(base, "ema").fingerprint}
    C.atomic_write_text(Path(run_dir) / LORA_BASE, json.dumps(pin, indent=1) + "\n")


def export_adapter(exp: Experiment, run_dir: Path) -> Path:
    """Write the EMA adapter of LoRA run ``run_dir`` to ``RUN/adapter`` (only the A/B
    tensors, in PEFT's layout, with adapter_config.json naming the base run and the
    fingerprint of the base weights it started from, ``RUN/lora_base.json``)."""
    from genlab.adapters.lora import save_adapter

    _, model = load_model(run_dir)
    pin = {"path": str(Path(exp.train.init_from).resolve()), "fingerprint": ""}
    if (Path(run_dir) / LORA_BASE).is_file():
        pin = json.loads((Path(run_dir) / LORA_BASE).read_text())
    out = Path(run_dir) / ADAPTER_DIR
    return save_adapter(model, exp.lora, out, pin["path"], pin["fingerprint"])


def parse_lora(spec: str) -> tuple[Path, float]:
    """``"runs/lora-x:0.8"`` -> (the adapter folder, 0.8); the scale defaults to 1 (a
    negative scale subtracts the adapter). The path may be a LoRA run (its ``adapter``
    folder, written again first if it is missing or older than the run's weights) or an
    adapter folder in PEFT's layout."""
    import math

    from genlab.adapters.lora import ADAPTER_WEIGHTS

    path, scale = spec, 1.0
    head, sep, tail = spec.rpartition(":")
    if sep and not Path(spec).exists():
        try:
            path, scale = head, float(tail)
        except ValueError:
            raise ConfigError(
                f"--lora: {spec}: the scale {tail!r} is not a number (RUN[:SCALE])"
            ) from None
    if not math.isfinite(scale):
        raise ConfigError(f"--lora: {spec}: the scale must be a finite number")
    folder = Path(path)
    if (folder / "config.yaml").is_file():  # a run: its adapter, current with its weights
        exp = read_experiment(folder)
        if not exp.lora.rank:
            raise ConfigError(f"--lora: {folder} is not a LoRA run (lora.rank is 0)")
        adapter = folder / ADAPTER_DIR / ADAPTER_WEIGHTS
        weights = folder / "ema.safetensors"
        if not weights.is_file():
            raise ConfigError(f"--lora: {folder} has no checkpoint yet")
        if not adapter.is_file() or adapter.stat().st_mtime_ns < weights.stat().st_mtime_ns:
            export_adapter(exp, folder)  # an interrupted run's, or an older export
        folder = folder / ADAPTER_DIR
    if not folder.is_dir():
        raise ConfigError(f"--lora: {path}: no such LoRA run or adapter folder")
    return folder, scale


def apply_loras(model: nn.Module, run_dir: Path, ours: str | None, specs: list[str]) -> None:
    """Add the adapters ``specs`` (``PATH[:SCALE]``, :func:`parse_lora`) to ``model``, the
    network of ``run_dir``, each at its scale, and merge them into the weights (sampling
    then costs what the base costs). ``ours``: the fingerprint of the EMA weights loaded
    into ``model`` (None for other weights); warns when an adapter was trained on other
    weights than these (it still applies where the shapes fit, as LoRAs move between
    fine-tunes of one base)."""
    import warnings

    from genlab.adapters.lora import load_adapter, merge

    for i, spec in enumerate(specs):
        folder, scale = parse_lora(spec)
        base, fingerprint = load_adapter(model, folder, f"lora{i}", scale)
        if ours and fingerprint and fingerprint != ours:
            warnings.warn(
                f"--lora: {folder} was trained on {base or 'another run'} (EMA weights "
                f"{fingerprint}), not on {Path(run_dir).resolve()} (EMA weights {ours})",
                stacklevel=2,
            )
    merge(model)


def load_model(
    run_dir: Path,
    weights: str = "ema",
    device: str | torch.device = "cpu",
    accept_changed: bool = False,
    lora: list[str] = (),
) -> tuple[Experiment, nn.Module]:
    """The experiment and its network with ``weights`` ("ema" or "model") loaded, in eval
    mode. The dependencies of a family that samples alone (``Family.samples_alone``: a
    distilled student and its teacher) may be gone or changed. ``lora``: adapters to add,
    ``PATH[:SCALE]`` each (:func:`apply_loras`)."""
    if weights not in ("ema", "model"):
        raise ConfigError(f"--weights: expected 'ema' or 'model', got {weights!r}")
    exp = experiment_to_sample(run_dir, accept_changed)
    path = Path(run_dir) / f"{weights}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (has the run saved a checkpoint yet?)")
    model = family_of(exp.objective.kind).build(exp)
    if exp.lora.rank:  # a LoRA run: its weights hold the base's and the adapters'
        from genlab.adapters.lora import add_lora

        add_lora(model, exp.lora)
    state = load_tensors(path)
    load_into(model, path, state)
    if lora:  # the fingerprint of these weights, as load_network gives it
        ours = weights_digest(state)[:16] if weights == "ema" else None
        apply_loras(model, Path(run_dir), ours, list(lora))
    return exp, model.to(device).eval()


def sampler_config(exp: Experiment, overrides: list[str] = (), **fields):
    """The run's sampler config with ``fields`` (e.g. ``steps=10`` from ``--steps``; None =
    keep) and ``key=value`` overrides (``sampler.steps=10``, or ``steps=10``) applied and
    checked. Errors name the key as ``sampler.KEY``; a key given both ways is an error."""
    check_guidance(exp, fields, list(overrides))
    keys = []
    for o in overrides:
        key = o.split("=", 1)[0].strip()
        if "." in key and not key.startswith("sampler."):
            raise ConfigError(f"{key}: only sampler.* settings apply when sampling a run")
        keys.append("sampler." + key.removeprefix("sampler."))
    staged = dataclasses.replace(exp, sampler=dataclasses.replace(exp.sampler))
    for name, value in fields.items():
        if value is None:
            continue
        if not hasattr(staged.sampler, name):
            raise ConfigError(f"sampler.{name}: does not apply to '{exp.objective.kind}' runs")
        if f"sampler.{name}" in keys:
            raise ConfigError(f"sampler.{name}: given both as --{name} and as sampler.{name}=")
        setattr(staged.sampler, name, value)
    plain = [k + "=" + o.split("=", 1)[1] if "=" in o else o for k, o in zip(keys, overrides)]
    staged = C.apply_overrides(staged, plain)
    # A setting stored with the run for its sampler or grid does not follow a switch to
    # another one; one the user gives now is checked (and refused if it does not apply).
    if hasattr(staged.sampler, "drop_unused"):
        given = {k.removeprefix("sampler.") for k in keys}
        staged.sampler.drop_unused(given | {k for k, v in fields.items() if v is not None})
    shaping = [k for k in keys if k in GUIDANCE_SHAPING]
    if shaping and not getattr(staged.sampler, "cfg", 0):  # as --negative-prompt is refused
        raise ConfigError(f"{shaping[0]}: shapes guidance, which is off; give --cfg above 0")
    return C.revalidate(staged.sampler)


# settings that change how guidance acts, and nothing when it is off
GUIDANCE_SHAPING = ("sampler.guidance_rescale", "sampler.guidance_lo", "sampler.guidance_hi")


def draw(
    model: nn.Module,
    exp: Experiment,
    seeds: list[int],
    cond: dict,
    scfg,
    batch=0,
    progress: bool = False,
):
    """``(len(seeds), *shape)`` samples on the CPU, ``batch`` at a time (0: all at once);
    ``cond`` holds one row per seed. Sample i depends only on ``seeds[i]``. ``progress``
    shows a bar (on a terminal) over the samples, with the network evaluations so far.

    Raises:
        GenlabError: a sample holds NaN or Inf (checked before anything is written).
    """
    family = family_of(exp.objective.kind)
    dev = next(model.parameters()).device
    step = batch or len(seeds)
    chunks = []
    bar = tqdm(total=len(seeds), unit="sample", disable=not progress, dynamic_ncols=True)
    calls = [0]

    def count(*_):
        calls[0] += 1
        bar.set_postfix(network_calls=calls[0])

    hook = model.register_forward_hook(count) if progress else None
    try:
        for lo in range(0, len(seeds), step):
            c = {k: v[lo : lo + step].to(dev) for k, v in cond.items()}
            chunks.append(family.sample(model, exp, seeds[lo : lo + step], c, scfg).cpu())
            bar.update(len(chunks[-1]))
    finally:
        if hook is not None:
            hook.remove()
        bar.close()
    x = torch.cat(chunks)
    bad = ~torch.isfinite(x.flatten(1)).all(1)
    if bool(bad.any()):
        raise GenlabError(
            f"sampling gave non-finite values (NaN/Inf) in {int(bad.sum())} of {len(x)} "
            f"samples (first: seed {seeds[int(bad.nonzero()[0])]}; sampler "
            f"{getattr(scfg, 'name', type(scfg).__name__)}); nothing was written"
        )
    return x


def sampler_values(overrides: list[str], key: str) -> list[str]:
    """The values given to sampler setting ``key`` by ``key=`` / ``sampler.key=``
    overrides, in order, stripped."""
    pairs = (o.split("=", 1) for o in overrides if "=" in o)
    return [v.strip() for k, v in pairs if k.strip().removeprefix("sampler.") == key]


def guidance_asked(explicit: dict, overrides: list[str]) -> bool:
    """Whether a non-zero guidance weight was given, as ``--cfg`` (``explicit["cfg"]``) or
    as a ``cfg=`` / ``sampler.cfg=`` override."""
    return explicit.get("cfg") not in (None, 0) or any(
        float(v or 0) != 0 for v in sampler_values(overrides, "cfg")
    )


def check_guidance(exp: Experiment, explicit: dict, overrides: list[str]) -> None:
    """``--cfg`` (or ``cfg=``) on a run with no condition is an error, as ``--class`` is,
    unless it weighs autoguidance (``sampler.autoguidance``), which needs no condition."""
    auto = any(sampler_values(overrides, "autoguidance")) or bool(explicit.get("autoguidance"))
    if auto or not guidance_asked(explicit, overrides):
        return
    if not family_of(exp.objective.kind).cond_keys(exp):
        raise ConfigError(
            "--cfg: this run has no condition (class or text) to guide; "
            "sampler.autoguidance=RUN_OR_CHECKPOINT guides an unconditional run"
        )


def control_cond(exp: Experiment, path: str | Path, n: int, run_dir) -> torch.Tensor:
    """The control picture at ``path`` for ``n`` samples of a ControlNet run: ``(n, C_ctrl,
    *S)`` in [-1, 1].

    Raises:
        ConfigError: the run is not a ControlNet run.
        DataError: a missing or unreadable file, or another size or channel count.
    """
    from genlab.data.folder import read_picture
    from genlab.data.pairs import to_channels

    if exp.model.arch != "controlnet":
        raise ConfigError(f"--control: {run_dir} is not a ControlNet run")
    m = exp.model
    shape = (m.control_channels or m.in_channels, *m.input_shape()[1:])
    x = read_picture(path, shape, "controls", any_channels=True)[None]  # (1, 1 or 3, H, W)
    # an RGB picture for a one-channel control: its brightness, as training makes it;
    # a grey picture for a colour control: the same grey in every channel
    x = to_channels(x, 1) if shape[0] == 1 else x.expand(1, shape[0], *shape[1:])
    return x.expand(n, *shape)


def sample_with_cond(
    run_dir,
    n,
    seed,
    *,
    cls,
    weights,
    device,
    overrides,
    accept_changed: bool = False,
    batch: int = 0,
    progress: bool = False,
    control: str | Path | None = None,
    lora: list[str] = (),
    prompts: list[str] | None = None,
    speaker: str | None = None,
    frames: int | None = None,
    context: int | None = None,
    **sampler_fields,
):
    """:func:`sample`, also returning the conditioning used, a grid row width and the
    experiment. ``control``: a picture every sample of a ControlNet run follows;
    ``lora``: adapters to add, ``PATH[:SCALE]`` each (:func:`apply_loras`); ``prompts``:
    a text run's prompts (:func:`prompt_rows`: with several, ``n`` samples of each);
    ``speaker``: the voice of an audio run (:func:`speaker_cond`); ``frames``: a video
    run's clips rolled out to that many frames, ``context`` known per window
    (:func:`genlab.families.base.continue_video`)."""
    if n < 1:
        raise ConfigError(f"--n: must be at least 1, got {n}")
    if context is not None and frames is None:
        raise ConfigError("--context: sets the known frames of --frames; give --frames too")
    if context is not None and context < 1:
        raise ConfigError(f"--context: must be at least 1 known frame, got {context}")
    exp, model = load_model(Path(run_dir), weights, device, accept_changed, lora)
    if frames is not None:  # checked before sampling
        rollout_window(family_of(exp.objective.kind), exp, frames, context or 0)
    if speaker is not None and getattr(exp.data, "label", "") == "digit_speaker":
        if cls is None or not 0 <= cls < 10:  # one class per digit x speaker
            raise ConfigError("--speaker: this run's classes are digit x speaker; give the "
                              "digit with --class 0..9")  # fmt: skip
        from genlab.data.audio import digit_speaker_class

        who = speaker_cond(exp, 1, speaker, exp.model.num_classes // 10)["speaker"].item()
        cls, speaker = digit_speaker_class(cls, who), None
    scfg = sampler_config(exp, overrides, **sampler_fields)
    if frames is not None and getattr(exp.objective, "diffusion_forcing", False):
        check_forcing_sampler(exp, scfg)  # before the first window is sampled
    seeds = [seed + i for i in range(n)]
    if prompts is not None or exp.text.encoder:
        texts, seeds, nrow = prompt_rows(exp, prompts, n, seed, run_dir)
        cond = {**class_cond(getattr(exp.model, "num_classes", 0), len(seeds), cls)[0]}
        cond.update(text_cond(exp, texts))
    else:
        k = getattr(exp.model, "num_classes", 0)
        prior = None if cls is not None else class_prior(exp, run_dir)
        cond, nrow = class_cond(k, n, cls, seed, prior)
    if control is not None:
        cond["control"] = control_cond(exp, control, len(seeds), run_dir)
    cond.update(speaker_cond(exp, len(seeds), speaker))
    x = draw(model, exp, seeds, cond, scfg, batch, progress)
    if frames is not None:
        fam = family_of(exp.objective.kind)
        x = continue_video(fam, model, exp, x, frames, seeds, cond, scfg, context or 0)
    return x, cond, nrow, exp


def speaker_cond(exp: Experiment, n: int, speaker: str | None, k: int | None = None) -> dict:
    """``{"speaker": (n,)}`` for ``--speaker`` (an id, or an FSDD speaker's name), ``{}``
    for None; ``k``: the number of speakers (default the run's ``model.num_speakers``).

    Raises:
        ConfigError: the run takes no speaker, an unknown name or an id out of range.
    """
    if speaker is None:
        return {}
    k = getattr(exp.model, "num_speakers", 0) if k is None else k
    if not k:
        raise ConfigError("--speaker: this run is not conditioned on a speaker")
    names: list[str] = []
    if exp.data.name == "fsdd":
        from genlab.data.audio import speaker_names

        names = speaker_names(exp.data)
    if speaker.isdigit():
        i = int(speaker)
    elif speaker in names:
        i = names.index(speaker)
    else:
        known = f"; the speakers are {', '.join(names)}" if names else ""
        raise ConfigError(f"--speaker: {speaker!r} is not a speaker id{known}")
    if not 0 <= i < k:
        raise ConfigError(f"--speaker: {i} is out of range; the run has speakers 0..{k - 1}")
    return {"speaker": torch.full((n,), i, dtype=torch.int64)}


def read_prompts(prompt: str | None, prompts_file: str | Path | None) -> list[str] | None:
    """``--prompt TEXT`` or ``--prompts FILE`` (one prompt a line, blank lines skipped) as
    a list; None when neither is given.

    Raises:
        ConfigError: both given, a missing or unreadable file, or one with no prompt.
    """
    if prompt is not None and prompts_file is not None:
        raise ConfigError("--prompts: give --prompt or --prompts FILE, not both")
    if prompts_file is None:
        return None if prompt is None else [prompt]
    path = Path(prompts_file)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # a BOM is not a prompt
    except FileNotFoundError:
        raise ConfigError(f"--prompts: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--prompts: {path}: not a readable text file ({e})") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise ConfigError(f"--prompts: {path}: holds no prompt (one a line)")
    return texts


def prompt_rows(
    exp: Experiment, prompts: list[str] | None, n: int, seed: int, run_dir
) -> tuple[list[str], list[int], int | None]:
    """The prompt and seed of each sample of a text run, and the grid's row width.

    One prompt: ``n`` samples of it, seeds ``seed .. seed + n - 1``. Several
    (``--prompts``): ``n`` samples of each with the same seeds, one row per prompt, so a
    column compares the prompts from one noise. None: sample ``i`` takes the caption of
    held-out image ``(seed + i) mod N`` (it depends on its seed alone).

    Raises:
        ConfigError: prompts for a run without text conditioning.
    """
    if not exp.text.encoder:
        flag = "--prompts" if prompts is not None and len(prompts) > 1 else "--prompt"
        raise ConfigError(f"{flag}: {run_dir} has no text conditioning (text.encoder is not set)")
    seeds = [seed + i for i in range(n)]
    if prompts is None:
        return heldout_prompts(exp, seeds), seeds, None
    if len(prompts) == 1:
        return prompts * n, seeds, None
    return (
        [p for p in prompts for _ in range(n)],
        [seed + j for _ in prompts for j in range(n)],
        n,
    )


def sample(
    run_dir: str | Path,
    n: int = 64,
    seed: int = 0,
    *,
    cls: int | None = None,
    weights: str = "ema",
    device: str | torch.device = "cpu",
    overrides: list[str] = (),
    **sampler_fields,
) -> torch.Tensor:
    """``(n, *shape)`` samples from a trained run; sample i depends only on seed ``seed + i``.

    Args:
        cls: class label for every sample; None spreads the classes in contiguous blocks.
        sampler_fields: sampler settings such as ``name="heun", steps=10, cfg=2.0``.
        overrides: further ``key=value`` sampler settings.
    """
    return sample_with_cond(
        run_dir,
        n,
        seed,
        cls=cls,
        weights=weights,
        device=device,
        overrides=overrides,
        **sampler_fields,
    )[0]


def interpolate(
    model: nn.Module,
    exp: Experiment,
    seed_a: int,
    seed_b: int,
    frames: int,
    cond: dict,
    scfg,
    mode: str = "slerp",
) -> torch.Tensor:
    """``(frames, *shape)`` samples along a path from seed ``seed_a``'s starting noise to
    ``seed_b``'s (``genlab.sampling.interpolation``: "slerp" or "lerp") under ``cond`` (one
    row per frame, usually all the same). Frame 0 equals seed A's sample and the last
    frame seed B's, each under the condition its row gives (stochastic samplers draw
    their per-step noise from seed A, so for them only frame 0 is exact).

    Raises:
        ConfigError: the run's samples start from discrete draws (token and VQ runs),
            ``frames < 2`` or an unknown ``mode``.
    """
    from genlab.rng import randn_per_seed
    from genlab.sampling.interpolation import PATHS

    family = family_of(exp.objective.kind)
    shape = family.noise_shape(exp)
    if shape is None:
        raise ConfigError(
            f"interpolation: '{exp.objective.kind}' runs start from discrete draws, not "
            "from noise; interpolate a diffusion, GAN or VAE run"
        )
    if mode not in PATHS:
        raise ConfigError(f"interpolation: unknown path {mode!r}; use one of {', '.join(PATHS)}")
    if frames < 2:
        raise ConfigError(f"frames: must be at least 2, got {frames}")
    za, zb = randn_per_seed([seed_a, seed_b], shape)
    z = PATHS[mode](za, zb, torch.linspace(0, 1, frames))
    dev = next(model.parameters()).device
    c = {k: v.to(dev) for k, v in cond.items()}
    x = family.sample(model, exp, [seed_a] * frames, c, scfg, noise=z.to(dev)).cpu()
    if not bool(torch.isfinite(x).all()):
        raise GenlabError("interpolation gave non-finite values (NaN/Inf); nothing was written")
    return x
