"""The experiment config: data, model, objective, sampler and train sections.

Below every layer that uses it: the families, the loops, runs and recipes all read an
:class:`Experiment`; nothing here imports a family.

``data``, ``model`` and ``objective`` are tagged sections: their dataclass is chosen by
``data.name``, ``model.arch`` and ``objective.kind`` (the objective's kind also picks the
task, hence the family, and the ``sampler`` section's dataclass). Everything else is a
plain typed field, so ``key=value`` overrides are checked against real types.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import genlab.config as C
from genlab.errors import ConfigError


@dataclass
class TrainConfig:
    """The training loop's settings (shared by every family)."""

    steps: int = 1000
    batch_size: int = 128  # global: samples per optimizer step, over all processes
    grad_accum: int = 1  # micro-batches per optimizer step (per process)
    lr: float = 2e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at the last step
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    ema_halflife: float = 10_000.0  # EMA half-life in samples (Karras et al. 2022)
    ema_rampup: float = 0.05  # half-life <= rampup * samples seen (0: no ramp-up)
    bf16: bool = False  # bfloat16 autocast
    compile: bool = False  # torch.compile the model
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    strategy: str = "ddp"  # several processes: ddp (replicas) | fsdp (FSDP2, sharded blocks)
    threads: int = 0  # torch intra-op threads (0: the free cores, genlab.cpu.pick_threads)
    log_every: int = 50
    sample_every: int = 500  # sample grid PNG every N steps (0: only at the end)
    num_samples: int = 64  # samples in the grid
    ckpt_every: int = 500  # checkpoint every N steps (always at the end)
    keep_last: int = 3  # checkpoints kept in checkpoints/
    stop_after: int = 0  # end this session after N steps (0: run to train.steps)
    tensorboard: bool = True
    # A run directory whose EMA weights initialise the network before step 0 (fine-tuning);
    # parameters the base lacks (e.g. a zero-initialised inpainting input) keep their init.
    init_from: str = ""

    def __post_init__(self):
        positive = (
            "steps",
            "batch_size",
            "grad_accum",
            "log_every",
            "ckpt_every",
            "keep_last",
            "num_samples",
        )
        for k in positive:
            if getattr(self, k) < 1:
                raise ConfigError(f"train.{k}: must be at least 1, got {getattr(self, k)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"train.lr: must be a positive number, got {self.lr}")
        for k in ("ema_halflife",):
            if not (math.isfinite(getattr(self, k)) and getattr(self, k) > 0):
                raise ConfigError(f"train.{k}: must be positive, got {getattr(self, k)}")
        for k in ("grad_clip", "weight_decay", "ema_rampup"):
            if not (math.isfinite(getattr(self, k)) and getattr(self, k) >= 0):
                raise ConfigError(f"train.{k}: must be >= 0, got {getattr(self, k)}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ConfigError(
                f"train.device: expected auto, cpu, cuda or cuda:N, got {self.device!r}"
            )
        if self.batch_size % self.grad_accum:
            raise ConfigError(
                f"train.batch_size: {self.batch_size} is not divisible by "
                f"train.grad_accum={self.grad_accum}"
            )
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"train.min_lr_ratio: must be in [0, 1], got {self.min_lr_ratio}")
        if self.strategy not in ("ddp", "fsdp"):
            raise ConfigError(f"train.strategy: must be 'ddp' or 'fsdp', got {self.strategy!r}")
        for k in ("warmup_steps", "sample_every", "stop_after", "threads"):
            if getattr(self, k) < 0:
                raise ConfigError(f"train.{k}: must be >= 0, got {getattr(self, k)}")


LORA_TARGETS = ("all", "attention", "linear")


@dataclass
class LoRAConfig:
    """Low-rank adapters (Hu et al. 2021, LoRA) on ``train.init_from``'s network, through
    the PEFT library (``genlab.adapters.lora``): each adapted layer ``W`` becomes
    ``W + (alpha / rank) * B A`` with ``A`` ``(rank, in)``, ``B`` ``(out, rank)`` and ``B = 0``
    at the start, so training begins at the base network; only ``A`` and ``B`` train."""

    rank: int = 0  # 0: no adapters (the network trains as a whole)
    alpha: float = 0.0  # the scale's numerator; 0: alpha = rank (scale 1)
    dropout: float = 0.0  # dropout on the adapter's input
    # Which layers get adapters: "all" (every Linear, Conv and Embedding), "attention"
    # (the attention blocks' projections), "linear" (every Linear layer).
    target_modules: str = "all"

    def __post_init__(self):
        if self.rank < 0:
            raise ConfigError(f"lora.rank: must be >= 0, got {self.rank}")
        if not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise ConfigError(f"lora.alpha: must be >= 0, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout: must be in [0, 1), got {self.dropout}")
        if self.target_modules not in LORA_TARGETS:
            raise ConfigError(
                f"lora.target_modules: {self.target_modules!r} is not one of "
                f"{', '.join(LORA_TARGETS)}"
            )


TEXT_ENCODERS = ("", "minilm", "words", "attributes")


@dataclass
class TextConfig:
    """The text encoder of a text-conditional run (``genlab.cond.prompts``): the data's
    captions in training, ``--prompt`` at sampling. ``minilm``: the frozen pretrained
    all-MiniLM-L6-v2 (384-d; ``genlab[text]``), its encodings of every caption the data
    can hold computed once per run; ``words``: a small transformer over the captions'
    words, trained with the network; ``attributes``: the class-label baseline, one learned
    token per attribute of the caption (prompts must be captions of the data). The network
    reads the token states by cross-attention (``model.text_dim`` = the encoder's width)."""

    encoder: str = ""  # "": no text; "minilm" | "words" | "attributes"
    max_length: int = 0  # tokens per prompt; 0: minilm 32 WordPiece tokens, words 16 words
    dim: int = 128  # words / attributes: width (and blocks, heads) of the trained encoder
    depth: int = 2
    heads: int = 4

    DEFAULT_LENGTH: ClassVar[dict[str, int]] = {"minilm": 32, "words": 16, "attributes": 4}

    def length(self) -> int:
        """Tokens per prompt: ``max_length`` or the encoder's default (WordPiece tokens
        with [CLS] and [SEP] / words / one per attribute)."""
        return self.max_length or self.DEFAULT_LENGTH.get(self.encoder, 0)

    def __post_init__(self):
        if self.encoder not in TEXT_ENCODERS:
            raise ConfigError(
                f"text.encoder: {self.encoder!r} is not one of minilm, words, attributes "
                "('' for none)"
            )
        if self.max_length < 0:
            raise ConfigError(f"text.max_length: must be >= 0, got {self.max_length}")
        if self.dim < 1 or self.depth < 1 or self.heads < 1 or self.dim % self.heads:
            raise ConfigError(
                f"text.dim/depth/heads: need positive values with heads dividing dim, got "
                f"{self.dim}/{self.depth}/{self.heads}"
            )


@dataclass
class Experiment:
    """A complete, resolvable description of one run (what ``config.yaml`` holds)."""

    recipe: str = ""
    seed: int = 0
    data: Any = None  # a dataset config, tag `name`
    model: Any = None  # a model config, tag `arch`
    objective: Any = None  # an objective config, tag `kind`
    sampler: Any = None  # the objective's task's sampler config
    train: TrainConfig = field(default_factory=TrainConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)  # rank 0: no adapters
    text: TextConfig = field(default_factory=TextConfig)  # encoder "": no text


TAGS = {"data": "name", "model": "arch", "objective": "kind"}

# objective.kind -> (objective config dataclass, sampler config dataclass); the families
# layer supplies it (``genlab.families.kind_types``), so this module knows no family.
KindTypes = Callable[[str], tuple[type, type]]


def _resolver(objective_kind: str, kind_types: KindTypes):
    from genlab.data import dataset_config
    from genlab.models import model_config

    def resolve(key: str, raw: dict) -> type:
        if key == "sampler":
            return kind_types(objective_kind)[1]
        tag = TAGS.get(key)
        if tag is None:
            raise ConfigError(f"{key}: unexpected section")
        if tag not in raw:
            raise ConfigError(f"{key}.{tag}: missing (it selects the {key} type)")
        if key == "data":
            return dataset_config(raw[tag])
        if key == "model":
            return model_config(raw[tag])
        return kind_types(raw[tag])[0]

    return resolve


def experiment_from_dict(raw: dict, kind_types: KindTypes, source: str = "config") -> Experiment:
    """Build and check an :class:`Experiment` from a plain dict (e.g. ``config.yaml``).

    ``kind_types(kind)`` gives the objective and sampler dataclasses of an objective
    kind. Raises :class:`ConfigError` naming ``source`` and the key on any problem.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    kind = (raw.get("objective") or {}).get("kind")
    if kind is None:
        raise ConfigError(f"{source}: objective.kind is missing")
    for sec in ("data", "model", "objective", "sampler"):
        if not isinstance(raw.get(sec), dict):
            raise ConfigError(f"{source}: section '{sec}' is missing")
    return C.from_dict(Experiment, raw, "", _resolver(kind, kind_types))


def override(exp: Experiment, overrides: list[str], kind_types: KindTypes) -> Experiment:
    """Apply ``key=value`` overrides with type checks.

    ``data.name=moons`` and ``model.arch=...`` swap in the default config of the new
    type before the other overrides apply; ``objective.kind`` cannot change (it is the
    family: pick another recipe). A switch to another diffusion sampler or grid
    (``sampler.name``, ``sampler.grid``) drops the recipe's settings of the one it
    replaces (Heun's ``churn``, the Karras grid's ``rho``, ...), as ``genlab sample``
    does; such a setting given with the switch is kept, and checked.
    """
    exp = dataclasses.replace(exp)
    resolve = _resolver(exp.objective.kind, kind_types)
    rest = []
    for item in overrides:
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key in ("data.name", "model.arch"):
            sec = key.split(".")[0]
            if getattr(getattr(exp, sec), TAGS[sec]) != value:
                setattr(exp, sec, resolve(sec, {TAGS[sec]: value})())
        else:
            rest.append(item)
    exp = C.apply_overrides(exp, rest, frozen=("objective.kind",))
    keys = {item.partition("=")[0].strip() for item in rest}
    if hasattr(exp.sampler, "drop_unused") and keys & {"sampler.name", "sampler.grid"}:
        exp.sampler.drop_unused({k.removeprefix("sampler.") for k in keys})
    return C.revalidate(exp, resolve)
