"""What the web app does, without the web page: find runs, sample, interpolate, compare.

:class:`Studio` serves the run directories under one root. Every request is checked
against :class:`Limits` and raises :class:`~genlab.errors.ConfigError` (one line, shown on
the page) on a bad value; run names are paths relative to the root and cannot leave it.
Networks are loaded once and kept (least recently used first out); sampling itself is
serialised by the server's queue (``genlab.app.ui``).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.checkpoint import last_step
from genlab.data import DATASETS
from genlab.errors import CheckpointError, ConfigError, GenlabError
from genlab.families import family_name, family_of
from genlab.runs import (
    class_cond,
    class_prior,
    draw,
    interpolate,
    load_experiment,
    load_model,
    sampler_config,
)
from genlab.viz import save_samples

ANY_CLASS = "any"  # the page's class choice for "no particular class"
CLASS_NAMES = {"mnist": "digit {}", "digits": "digit {}", "fashion-mnist": "class {}"}


@dataclass(frozen=True)
class Limits:
    """Server caps on one request (``genlab serve --max-n ...``)."""

    max_n: int = 64
    max_steps: int = 200
    max_prompt_chars: int = 200
    max_frames: int = 16
    max_seed: int = 2**31 - 1


@dataclass(frozen=True)
class RunInfo:
    """One run directory under the root: ``name`` is its path relative to the root."""

    name: str
    family: str
    data: str
    model: str
    kind: str
    num_classes: int
    steps: int
    shape: tuple[int, ...]  # (channels, image size) where the data has them
    modality: str
    sampler_steps: int  # the run's default sampling steps (0: one pass)
    cond: tuple[str, ...]  # the condition keys its network takes ("class", "text", ...)

    @property
    def task(self) -> str:
        """Runs that can be compared on the same prompts: same data and sample shape."""
        return f"{self.data}:{'x'.join(map(str, self.shape))}"

    def summary(self) -> str:
        cond = f"{self.num_classes} classes" if self.num_classes else "unconditional"
        return (
            f"{self.name}: {self.family} ({self.kind}), model {self.model}, data {self.data}, "
            f"{cond}, {self.steps} steps"
        )


def class_prompt(data: str, k: int) -> str:
    return CLASS_NAMES.get(data, "class {}").format(k)


class Studio:
    """The runs under ``root`` (directories holding ``config.yaml`` and saved weights, at
    most ``depth`` levels down) and what can be done with them. ``progress`` shows a
    progress bar per sampling request.

    Raises:
        ConfigError: ``root`` is not a directory.
    """

    def __init__(
        self,
        root: str | Path,
        limits: Limits | None = None,
        device: str = "cpu",
        cache_size: int = 4,
        depth: int = 2,
        progress: bool = False,
    ):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ConfigError(f"RUNS_DIR: {root}: no such directory")
        self.limits, self.device, self.depth = limits or Limits(), device, depth
        self.progress = progress  # tqdm bars (the page follows them with gr.Progress)
        self._models: OrderedDict[tuple, tuple] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ runs

    def runs(self) -> list[RunInfo]:
        """Every loadable run under the root, sorted by name (unreadable ones skipped)."""
        found = []
        for cfg in sorted(self.root.rglob("config.yaml")):
            run = cfg.parent
            rel = run.relative_to(self.root)
            if len(rel.parts) > self.depth or not any(
                (run / f"{w}.safetensors").is_file() for w in ("ema", "model")
            ):
                continue
            try:
                found.append(self._info(rel.as_posix(), run))
            except GenlabError:
                continue
        return found

    def _info(self, name: str, run: Path) -> RunInfo:
        exp = load_experiment(run, missing_ok=True)
        kind = exp.objective.kind
        # the sample shape the data fixes (token runs have no input_shape of their own)
        shape = tuple(
            int(v) for v in (getattr(exp.data, k, None) for k in ("channels", "image_size")) if v
        )
        return RunInfo(
            name=name,
            family=family_name(kind),
            data=exp.data.name,
            model=exp.model.arch,
            kind=kind,
            num_classes=int(getattr(exp.model, "num_classes", 0) or 0),
            steps=last_step(run),
            shape=shape,
            modality=DATASETS[exp.data.name].modality,
            sampler_steps=int(getattr(exp.sampler, "steps", 0) or 0),
            cond=tuple(family_of(kind).cond_keys(exp)),
        )

    def resolve(self, name: str) -> Path:
        """The directory of run ``name``.

        Raises:
            ConfigError: an empty, over-long or malformed name, an absolute path, ``..``,
                a path outside the root (symbolic links are followed first), deeper
                than the listing goes, or a directory that is not a run.
        """
        name = (name or "").strip()
        if not name:
            raise ConfigError("run: choose a run")
        if len(name) > 255 or not name.isprintable():
            raise ConfigError("run: not a valid run name")
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts:
            raise ConfigError(f"run: {name!r} is refused (names are paths inside RUNS_DIR)")
        if len(parts) > self.depth:
            raise ConfigError(f"run: {name!r} is deeper than the {self.depth} levels served")
        try:
            path = (self.root / name).resolve()
        except OSError as e:
            raise ConfigError(f"run: {name!r}: {e.strerror}") from None
        if not path.is_relative_to(self.root):
            raise ConfigError(f"run: {name!r} is refused (it leads outside RUNS_DIR)")
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"run: {name!r}: no such run in RUNS_DIR")
        return path

    def info(self, name: str) -> RunInfo:
        """The :class:`RunInfo` of run ``name`` (errors as :meth:`resolve`)."""
        return self._info(Path(name).as_posix(), self.resolve(name))

    def model(self, name: str):
        """``(exp, network)`` of run ``name`` in eval mode: the EMA weights, or
        ``model.safetensors`` for runs that keep no EMA. Loaded once and kept while the
        weights file is unchanged (a retrained run is reloaded).

        Raises:
            ConfigError: see :meth:`resolve`.
            CheckpointError: no weights, or unreadable ones (named).
        """
        path = self.resolve(name)
        weights = "ema" if (path / "ema.safetensors").is_file() else "model"
        try:
            st = (path / f"{weights}.safetensors").stat()
            # ctime changes on every write and cannot be set back (as mtime can by cp -p)
            stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        except OSError:
            raise CheckpointError(f"run {name!r}: has no saved weights yet") from None
        key = (str(path), weights, stamp)
        with self._lock:  # one load at a time; requests for a loaded run wait only briefly
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            exp, net = load_model(path, weights, self.device)
            self._models[key] = (exp, net)
            while len(self._models) > self._cache_size:
                self._models.popitem(last=False)
        return exp, net

    # --------------------------------------------------------------- checks

    def _check_int(self, key: str, value, lo: int, hi: int) -> int:
        """``value`` as a whole number in ``[lo, hi]`` (the page sends floats and strings)."""
        v = None
        if isinstance(value, int) and not isinstance(value, bool):
            v = value
        elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and value.strip().lstrip("-").isdigit()
        ):
            v = int(value)
        if v is None:
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        if not lo <= v <= hi:
            raise ConfigError(f"{key}: must be between {lo} and {hi}, got {v}")
        return v

    def _sampler(self, exp, sampler: str | None, steps, cfg):
        fields: dict = {}
        if sampler:
            fields["name"] = sampler
        steps = steps.strip() if isinstance(steps, str) else steps
        cfg = cfg.strip() if isinstance(cfg, str) else cfg
        if steps not in (None, ""):
            fields["steps"] = self._check_int("steps", steps, 1, self.limits.max_steps)
        if cfg not in (None, ""):
            try:
                fields["cfg"] = float(cfg)
            except (TypeError, ValueError):
                raise ConfigError(f"cfg: expected a number, got {cfg!r}") from None
            if not math.isfinite(fields["cfg"]) or abs(fields["cfg"]) > 1e3:
                raise ConfigError(f"cfg: expected a guidance weight in [0, 1000], got {cfg!r}")
        for key in list(fields):
            if not hasattr(exp.sampler, key):
                raise ConfigError(f"{key}: does not apply to '{exp.objective.kind}' runs")
        try:
            scfg = sampler_config(exp, [], **fields)
        except ConfigError as e:  # the page has no flags: name the field
            raise ConfigError(str(e).removeprefix("--")) from None
        if getattr(scfg, "steps", 0) > self.limits.max_steps:
            raise ConfigError(
                f"steps: the run's {scfg.steps} exceed the server's cap {self.limits.max_steps}"
            )
        return scfg

    def _cond(
        self,
        exp,
        n: int,
        cls,
        prompt: str | None,
        seed: int,
        negative: str | None = None,
        run_dir: Path | None = None,
    ):
        """The condition of ``n`` samples; the prompts are checked against the cap and
        refused for runs that take no text (every run today: text-to-image is to come)."""
        k = int(getattr(exp.model, "num_classes", 0) or 0)
        for key, text in (("prompt", prompt or ""), ("negative prompt", negative or "")):
            cap = self.limits.max_prompt_chars
            if len(text) > cap:
                raise ConfigError(f"{key}: {len(text)} characters; the server allows {cap}")
            if text.strip():
                hint = " (it is class-conditional: choose a class)" if k else ""
                raise ConfigError(f"{key}: this run takes no text prompt{hint}")
        if cls in ("", None, ANY_CLASS, -1):
            cls = None
        else:
            cls = self._check_int("class", cls, 0, 10**6)
        try:
            prior = None if cls is not None else class_prior(exp, run_dir)
            return class_cond(k, n, cls, seed, prior)
        except ConfigError as e:  # the page has no flags: name the field
            raise ConfigError(str(e).removeprefix("--")) from None

    # -------------------------------------------------------------- actions

    def sample(
        self,
        run: str,
        seed=0,
        n=16,
        sampler=None,
        steps=None,
        cfg=None,
        cls=None,
        prompt=None,
        negative=None,
    ):
        """``(x (n, *shape), cond, nrow, exp)``: ``n`` samples of ``run``, sample i from
        seed ``seed + i``, as ``genlab sample`` gives them. None (or blank) for
        ``sampler``/``steps``/``cfg`` keeps the run's setting; ``cls`` None or "any"
        spreads the classes as ``genlab sample`` does.

        Raises:
            ConfigError: a value outside the server's caps or not valid for the run
                (one line naming the field); see also :meth:`resolve`, :meth:`model`.
            GenlabError: non-finite samples.
        """
        lim = self.limits
        n = self._check_int("n", n, 1, lim.max_n)
        seed = self._check_int("seed", seed, 0, lim.max_seed - n)
        exp, net = self.model(run)
        scfg = self._sampler(exp, sampler, steps, cfg)
        cond, nrow = self._cond(exp, n, cls, prompt, seed, negative, self.resolve(run))
        x = draw(
            net, exp, [seed + i for i in range(n)], cond, scfg, batch=8, progress=self.progress
        )
        return x.float(), cond, nrow, exp

    def interpolate(
        self,
        run: str,
        seed_a=0,
        seed_b=1,
        frames=8,
        mode="slerp",
        sampler=None,
        steps=None,
        cfg=None,
        cls=None,
    ):
        """``(frames, *shape)`` samples from seed A's noise to seed B's under one
        condition (:func:`genlab.runs.interpolate`): class ``cls``, or for "any" on a
        class-conditional run the class seed A's sample has; frame 0 is then seed A's
        sample, and the last frame is seed B's noise under that class.

        Raises:
            ConfigError: as :meth:`sample`, and ``frames`` outside ``2..max_frames``.
        """
        lim = self.limits
        frames = self._check_int("frames", frames, 2, lim.max_frames)
        seed_a = self._check_int("seed A", seed_a, 0, lim.max_seed)
        seed_b = self._check_int("seed B", seed_b, 0, lim.max_seed)
        exp, net = self.model(run)
        scfg = self._sampler(exp, sampler, steps, cfg)
        cond, _ = self._cond(exp, frames, cls, None, seed_a, run_dir=self.resolve(run))
        if "class" in cond and cls in ("", None, ANY_CLASS, -1):  # one class along the walk
            cond = {"class": cond["class"][:1].expand(frames).clone()}
        return interpolate(net, exp, seed_a, seed_b, frames, cond, scfg, mode), exp

    def save(
        self, x: torch.Tensor, exp, folder: Path, stem: str, nrow=None, labels=None, seeds=None
    ):
        """Write samples ``x (n, *shape)`` as a picture (grid or scatter) and an ``.npz``
        in ``genlab sample``'s format (``x``, ``seed``, ``class``); returns ``(png, npz)``."""
        folder.mkdir(parents=True, exist_ok=True)
        png, npz = folder / f"{stem}.png", folder / f"{stem}.npz"
        order = torch.arange(len(x))
        if labels is not None:
            order = torch.argsort(labels, stable=True)
        save_samples(
            x[order],
            DATASETS[exp.data.name].modality,
            png,
            nrow,
            labels[order] if labels is not None else None,
        )
        arrays = {"x": x.numpy()}
        if seeds is not None:
            arrays["seed"] = np.asarray(seeds)
        if labels is not None:
            arrays["class"] = labels.numpy()
        np.savez(npz, **arrays)
        return png, npz
