"""The classifier family: classifiers trained by the one-objective loop, used as the
feature networks of genlab's metrics (``genlab eval --extractor RUN``).

Each head reads the batch's label of its name (``model.head_names``): a class id ``(B,)``
trained by cross-entropy, or, for the heads named in ``model.multi_label``, a set of
classes ``(B, slots)`` (e.g. the two digits of a Moving MNIST clip, in either order)
trained by binary cross-entropy on its multi-hot vector. The labels are checked against
the data before training (:func:`check_labels`).

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
from genlab.families.base import Family, no_dependencies, prepare
from genlab.models import build_model
from genlab.train import loop


def random_shift(x: Tensor, shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image ``(B, C, H, W)`` by its own integer offset in
    ``[-shift, shift]^2``, filling with the background value -1; each waveform
    ``(B, C, L)`` by an offset in ``[-shift, shift]`` samples, filling with silence; each
    clip ``(B, C, T, H, W)`` like an image, every frame by the clip's one offset."""
    if shift == 0:
        return x
    if x.ndim == 5:
        b, c, t, h, w = x.shape
        return random_shift(x.reshape(b, c * t, h, w), shift, generator).view(b, c, t, h, w)
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


def multi_hot(y: Tensor, k: int) -> Tensor:
    """``(B, k)`` float: 1 at every class listed in ``y`` ``(B,)`` or ``(B, slots)`` int64,
    0 elsewhere (a class listed twice is still 1)."""
    y = y.reshape(len(y), -1)  # (B, slots)
    return torch.zeros(len(y), k, device=y.device).scatter_(1, y, 1.0)


def classify_loss(
    model: nn.Module,
    batch: dict,
    generator: torch.Generator,
    *,
    shift: int,
    smoothing: float,
    multi_label: tuple[str, ...] = (),
):
    """Per-sample loss summed over heads ``(B,)``, and each head's accuracy.

    A single-label head adds its cross-entropy (nats) and logs ``acc_<head>``, the
    fraction predicted right. A ``multi_label`` head adds the binary cross-entropy of its
    ``K`` sigmoid logits against the multi-hot target, summed over the ``K`` classes (the
    negative log-likelihood of the set), with targets smoothed to ``smoothing / 2`` and
    ``1 - smoothing / 2``; ``acc_<head>`` is the fraction of exact sets (every logit on
    the right side of 0)."""
    x = random_shift(batch["x"], shift, generator)
    net = getattr(model, "module", model)  # DDP wraps the classifier
    heads = net.split(model(x))
    loss, logs = 0.0, {}
    for name, logits in heads.items():
        y = batch["cond"][name]
        if name in multi_label:
            target = multi_hot(y, logits.shape[1])  # (B, K)
            soft = target * (1 - smoothing) + smoothing / 2
            bce = F.binary_cross_entropy_with_logits(logits.float(), soft, reduction="none")
            loss = loss + bce.sum(1)
            exact = ((logits > 0) == target.bool()).all(1)
            logs[f"acc_{name}"] = exact.float().mean().detach()
            continue
        ce = F.cross_entropy(logits.float(), y, reduction="none", label_smoothing=smoothing)
        loss = loss + ce
        logs[f"acc_{name}"] = (logits.argmax(1) == y).float().mean().detach()
    return loss, logs


def loss(exp: Experiment):
    o = exp.objective
    return partial(
        classify_loss,
        shift=o.shift,
        smoothing=o.label_smoothing,
        multi_label=tuple(exp.model.multi_label),
    )


def check_labels(exp: Experiment, data) -> None:
    """Every head's label is in ``data.cond``, has the form its head reads (``(N,)``
    class ids; ``(N,)`` or ``(N, slots)`` for a ``model.multi_label`` head) and values in
    ``[0, classes)``.

    Raises:
        ConfigError: naming the head's key and what is wrong with it.
    """
    m = exp.model
    for name, k in zip(m.head_names, m.heads):
        if name not in data.cond:
            have = ", ".join(sorted(data.cond)) or "none"
            raise ConfigError(
                f"model.head_names: the head '{name}' reads the label '{name}', which data "
                f"'{exp.data.name}' does not have (its labels: {have})"
            )
        y = data.cond[name]
        multi = name in m.multi_label
        if y.dtype != torch.int64 or y.ndim not in ((1, 2) if multi else (1,)):
            form = "(N,) or (N, slots) int64 class ids" if multi else "(N,) int64 class ids"
            hint = "; name it in model.multi_label" if y.ndim == 2 and not multi else ""
            raise ConfigError(
                f"model.head_names: label '{name}' of '{exp.data.name}' is "
                f"{tuple(y.shape)} {y.dtype}, but its head reads {form}{hint}"
            )
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
            raise ConfigError(
                f"model.heads: head '{name}' has {k} classes, but label '{name}' of "
                f"'{exp.data.name}' holds values in [{int(y.min())}, {int(y.max())}]"
            )


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
    x = data.x[: 128 if data.x.ndim == 5 else 1024]  # clips cost ~100x an image
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
    """Train in the one-objective loop, after :func:`check_labels`."""
    data, model = prepare(exp, build, resume)
    check_labels(exp, data)
    return loop.fit(
        run_dir,
        exp.train,
        exp.seed,
        model,
        loss(exp),
        data,
        cond_keys=cond_keys(exp),
        preview=preview(exp, data),
        resume=resume,
    )


FAMILY = Family(
    name="classifier",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=lambda exp: {},
    dependencies=no_dependencies,
    doc="classifier: cross-entropy and multi-label heads (metric feature networks)",
)
