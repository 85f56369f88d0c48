"""LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") on any
genlab network, through the PEFT library (what diffusers uses).

An adapted layer computes ``W x + (alpha / rank) * scale * B A x``: ``A`` ``(rank, in)``
starts random, ``B`` ``(out, rank)`` at zero (Eq. 3 and section 4.1 of the paper), so an
adapter starts as the identity edit. Linear, Conv1d/2d/3d and Embedding layers are
supported (PEFT's LoRA layers); ``target_modules`` picks them by kind (``LoRAConfig``).

A trained adapter is a folder in PEFT's format::

    ADAPTER/adapter_model.safetensors   the A and B tensors only
    ADAPTER/adapter_config.json         PEFT's LoraConfig (rank, alpha, target modules)

which :func:`load_adapter` adds to a network under a name, at a scale, several at once if
wanted; :func:`merge` folds the active adapters into the weights (sampling then costs
what the base costs) and :func:`unmerge` takes them out again.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from genlab.errors import CheckpointError, ConfigError
from genlab.experiment import LoRAConfig

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."  # how PEFT names a wrapped network's tensors
_KINDS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)


def _peft():
    try:
        import peft
    except ImportError:  # an optional extra: genlab[lora]
        raise ConfigError(
            "lora: needs the peft library (pip install 'genlab[lora]', or make setup)"
        ) from None
    return peft


def target_modules(model: nn.Module, which: str = "all") -> list[str]:
    """Names of the layers of ``model`` that get adapters.

    Args:
        which: "all" (every Linear, Conv and Embedding layer), "attention" (the Linear
            layers inside modules whose class name contains "Attention": the q/k/v and
            output projections), or "linear" (every Linear layer).
    Raises:
        ConfigError: ``which`` is unknown, or ``model`` has no such layer.
    """
    kinds = {"all": _KINDS, "attention": (nn.Linear,), "linear": (nn.Linear,)}
    if which not in kinds:
        raise ConfigError(f"lora.target_modules: {which!r} is not one of {', '.join(kinds)}")
    inside: set[str] = set()
    if which == "attention":
        for name, m in model.named_modules():
            if "Attention" in type(m).__name__:
                inside |= {f"{name}.{n}" if name else n for n, _ in m.named_modules() if n}
    names = [
        n.removesuffix(".base_layer")  # a layer that has adapters already: by its own name
        for n, m in model.named_modules()
        if isinstance(m, kinds[which])
        and "lora_" not in n
        and (which != "attention" or n in inside)
    ]
    if not names:
        raise ConfigError(f"lora.target_modules: this network has no {which} layers to adapt")
    return names


def peft_config(model: nn.Module, cfg: LoRAConfig):
    """PEFT's ``LoraConfig`` for ``cfg`` on ``model`` (the layers named explicitly)."""
    peft = _peft()
    return peft.LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha or cfg.rank,
        lora_dropout=cfg.dropout,
        target_modules=target_modules(model, cfg.target_modules),
        bias="none",
    )


def add_lora(model: nn.Module, cfg: LoRAConfig, name: str = "default") -> nn.Module:
    """Add fresh adapters (``B = 0``: the output is unchanged) to ``model`` in place and
    leave only adapter tensors trainable. Returns ``model``.

    Raises:
        ConfigError: ``cfg.rank`` is 0 or no layer matches.
    """
    if cfg.rank < 1:
        raise ConfigError("lora.rank: must be at least 1 to add adapters")
    peft = _peft()
    peft.inject_adapter_in_model(peft_config(model, cfg), model, adapter_name=name)
    for pname, p in model.named_parameters():
        p.requires_grad_("lora_" in pname)
    return model


def _layers(model: nn.Module) -> list:
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def _names(layer) -> set[str]:
    return set(layer.lora_A) | set(layer.lora_embedding_A)


def adapter_state(model: nn.Module, name: str = "default") -> dict[str, torch.Tensor]:
    """The adapter ``name``'s tensors of ``model``, keyed as PEFT saves them."""
    peft = _peft()
    return peft.get_peft_model_state_dict(model, adapter_name=name)


def save_adapter(
    model: nn.Module, cfg: LoRAConfig, folder: Path, base: str = "", fingerprint: str = ""
) -> Path:
    """Write adapter "default" of ``model`` to ``folder`` (PEFT's layout, atomically per
    file): the A/B tensors in safetensors and the LoraConfig as JSON, with ``base`` (the
    run it was trained on) as ``base_model_name_or_path`` and the base weights'
    ``fingerprint`` as its ``revision``. Returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # keys as PEFT's save_pretrained writes them (PeftModel wraps the network twice)
    state = {
        PEFT_PREFIX + k: v.detach().cpu().contiguous() for k, v in adapter_state(model).items()
    }
    tmp = folder / f".{ADAPTER_WEIGHTS}.tmp"
    save_file(state, str(tmp))
    tmp.replace(folder / ADAPTER_WEIGHTS)
    pc = peft_config(model, cfg)
    pc.base_model_name_or_path, pc.revision = base, fingerprint
    raw = pc.to_dict()
    raw = {k: sorted(v) if isinstance(v, set) else v for k, v in raw.items()}
    tmp = folder / f".{ADAPTER_CONFIG}.tmp"
    tmp.write_text(json.dumps(raw, indent=2, default=str))
    tmp.replace(folder / ADAPTER_CONFIG)
    return folder


def load_adapter(
    model: nn.Module, folder: Path, name: str = "default", scale: float = 1.0
) -> tuple[str, str]:
    """Add the adapter saved in ``folder`` to ``model`` in place as adapter ``name`` at
    ``scale`` (0: the base network exactly; 1: as trained) and make it active beside any
    adapters already there. Returns the adapter's base (``base_model_name_or_path``) and
    that base's weights fingerprint (``revision``), "" where not recorded.

    Raises:
        CheckpointError: ``folder`` is not an adapter, or its tensors do not fit ``model``
            (another architecture or width); the message names the folder.
    """
    peft = _peft()
    folder = Path(folder)
    if not (folder / ADAPTER_CONFIG).is_file():
        raise CheckpointError(f"{folder}: not a LoRA adapter (no {ADAPTER_CONFIG})")
    try:
        pc = peft.LoraConfig.from_pretrained(str(folder))
    except (ValueError, TypeError, OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{folder / ADAPTER_CONFIG}: unreadable ({e})") from None
    try:
        state = load_file(str(folder / ADAPTER_WEIGHTS))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{folder / ADAPTER_WEIGHTS}: missing or corrupt ({e})") from None
    state = {k.removeprefix(PEFT_PREFIX): v for k, v in state.items()}
    own = dict(model.named_modules())
    missing = [t for t in pc.target_modules if t not in own]
    if missing:
        raise CheckpointError(
            f"{folder}: adapts layer {missing[0]!r}, which this network lacks "
            "(an adapter trained on another architecture)"
        )
    try:
        with warnings.catch_warnings():  # PEFT warns that a second adapter is a second one
            warnings.filterwarnings("ignore", "Already found a `peft_config`")
            peft.inject_adapter_in_model(pc, model, adapter_name=name)
        result = peft.set_peft_model_state_dict(model, state, adapter_name=name)
    except (RuntimeError, ValueError) as e:
        lines = [ln.strip() for ln in str(e).splitlines() if "size mismatch" in ln]
        first = (lines or [str(e).splitlines()[0]])[0]
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise CheckpointError(
            f"{folder}: does not fit this network: {first}{more}; an adapter trained on "
            "another width or rank"
        ) from None
    lost = [k for k in result.unexpected_keys if "lora_" in k]
    if lost:
        raise CheckpointError(f"{folder}: tensor {lost[0]} has no place in this network")
    names = sorted({a for layer in _layers(model) for a in _names(layer)})
    for layer in _layers(model):  # every adapter active, each at its own scale
        layer.set_adapter([a for a in names if a in _names(layer)])
    set_scale(model, scale, name)
    model.requires_grad_(False)
    return pc.base_model_name_or_path or "", pc.revision or ""


def set_scale(model: nn.Module, scale: float, name: str = "default") -> None:
    """Multiply adapter ``name``'s update by ``scale`` (relative to alpha / rank), as
    diffusers' ``cross_attention_kwargs={"scale": s}``; 0 turns it off exactly."""
    for layer in _layers(model):
        if name in layer.scaling:
            layer.set_scale(name, scale)


def merge(model: nn.Module) -> None:
    """Fold the active adapters, at their scales, into the base weights."""
    for layer in _layers(model):
        layer.merge()


def unmerge(model: nn.Module) -> None:
    """Take merged adapters back out of the base weights (up to rounding)."""
    for layer in _layers(model):
        layer.unmerge()


def trainable_fraction(model: nn.Module) -> tuple[int, int]:
    """(adapter parameters, base parameters) of a network with adapters."""
    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    return lora, sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
