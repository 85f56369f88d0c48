"""The classifier family: cross-entropy classifiers trained by the one-objective loop,
used as the feature networks of genlab's metrics (``genlab eval --extractor RUN``).

A classifier run's ``sampler`` section says how it is applied at evaluation; it draws no
samples (``genlab sample`` on it is a clear error).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import Family, fit_one_objective, no_dependencies
from genlab.models import build_model


def random_shift(x: Tensor, shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image ``(B, C, H, W)`` by its own integer offset in
    ``[-shift, shift]^2``, filling with the background value -1; each waveform
    ``(B, C, L)`` by an offset in ``[-shift, shift]`` samples, filling with silence."""
    if shift == 0:
        return x
    if x.ndim == 3:
        b, _, n = x.shape
        pad = F.pad(x, (shift, shift))
        dt = torch.randint(0, 2 * shift + 1, (b, 1, 1), generator=generator).to(x.device)
        idx = (torch.arange(n, device=x.device) + dt).expand(-1, x.shape[1], -1)  # (B, C, L)
        return pad.gather(2, idx)
    b, _, h, w = x.shape
    pad = F.pad(x, (shift,) * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * shift + 1, (2, b, 1), generator=generator).to(x.device)
    rows = (torch.arange(h, device=x.device) + dy)[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w, device=x.device) + dx)[:, None, :]  # (B, 1, W)
    out = pad[torch.arange(b, device=x.device)[:, None, None], :, rows, cols]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def classify_loss(
    model: nn.Module, batch: dict, generator: torch.Generator, *, shift: int, smoothing: float
):
    """Per-sample cross-entropy summed over heads ``(B,)``, and each head's accuracy."""
    x = random_shift(batch["x"], shift, generator)
    net = getattr(model, "module", model)  # DDP wraps the classifier
    heads = net.split(model(x))
    loss, logs = 0.0, {}
    for name, logits in heads.items():
        y = batch["cond"][name]
        ce = F.cross_entropy(logits.float(), y, reduction="none", label_smoothing=smoothing)
        loss = loss + ce
        logs[f"acc_{name}"] = (logits.argmax(1) == y).float().mean().detach()
    return loss, logs


def loss(exp: Experiment):
    o = exp.objective
    return partial(classify_loss, shift=o.shift, smoothing=o.label_smoothing)


def sample(model, exp, seeds, cond, scfg):
    raise ConfigError(
        f"{exp.recipe}: a classifier run does not generate samples; use it as "
        "`genlab eval ... --extractor RUN`"
    )


def preview(exp: Experiment, data):
    """Training images sorted by the first head's prediction: row k shows images
    predicted as class k (blank cells when fewer were found)."""
    return partial(_preview, exp=exp, data=data)


@torch.no_grad()
def _preview(model: nn.Module, exp: Experiment, data) -> tuple[Tensor, int]:
    x = data.x[:1024]
    pred = model.split(model(x.to(next(model.parameters()).device)))
    pred = next(iter(pred.values())).argmax(1).cpu()
    k, per = exp.model.heads[0], 8
    rows = []
    for c in range(k):
        got = x[pred == c][:per]
        fill = torch.full((per - len(got), *x.shape[1:]), -1.0)
        rows.append(torch.cat([got, fill]))
    return torch.cat(rows), per


def build(exp: Experiment) -> nn.Module:
    return build_model(exp.model)


def cond_keys(exp: Experiment) -> tuple[str, ...]:
    """The label of every head (the training targets)."""
    return tuple(exp.model.head_names)


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    return fit_one_objective(
        exp,
        run_dir,
        resume,
        build=build,
        loss=loss(exp),
        cond_keys=cond_keys(exp),
        preview=preview,
    )


FAMILY = Family(
    name="classifier",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=lambda exp: {},
    dependencies=no_dependencies,
    doc="cross-entropy classifier (metric feature networks)",
)
