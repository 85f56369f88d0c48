"""Feature extractors for the metrics, and cached reference features.

``get_extractor(name, path=None, inception_weights=None)`` returns an :class:`Extractor`:

- ``"mnist"``, ``"digits"``, ``"shapes"``, ``"fsdd"`` (spoken digits: waveforms
  ``(N, 1, L)``, a log-mel CNN), ``"moving-mnist"`` (clips ``(N, 1, 20, 64, 64)``, a 3-D
  CNN with multi-label heads), ``"moving-shapes"`` (clips ``(N, 3, 16, 32, 32)``): a
  domain classifier genlab trained itself. The
  artifact is a run directory of ``genlab train eval-<name>-classifier`` (default
  ``runs/eval-<name>-classifier``, relative to the working directory; or ``path``,
  the CLI's ``--extractor RUN``). Its EMA weights are used; its fingerprint is
  ``classifier-<kind>-<C>x<S>x<S>:<sha256 of the weights' tensors, 16 hex>``.
- ``"inception"``: the FID InceptionV3 (pytorch-fid layout) with the weights file the
  user passes (``inception_weights``, sha256 checked); ``"inception-random"`` builds it
  with seeded random weights, for throughput tests only.

Reference features of a dataset are cached as ``<cache>/<data.name>-<key>.npz`` with
``key = sha256(data config JSON + extractor fingerprint)[:16]``, holding the features
and their float64 mean and covariance; ``cache`` defaults to ``<classifier run>/refstats``
(or ``~/.cache/genlab/refstats`` for Inception). Files are written atomically. Video
references also hold each real clip's frame change and pixel consistency
(``genlab.metrics.video``), and :func:`reference_frame_features` caches the per-frame
features of an image extractor as ``<cache>/<data.name>-frames-<key>.npz``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.checkpoint import load_network
from genlab.errors import CheckpointError, ConfigError
from genlab.metrics.fid import gaussian_stats

DOMAINS = ("mnist", "digits", "shapes", "fsdd", "moving-mnist", "moving-shapes")
NAMES = (*DOMAINS, "inception", "inception-random")
DEFAULT_CACHE = Path.home() / ".cache" / "genlab" / "refstats"


@dataclass
class Extractor:
    """A frozen network mapping images (or waveforms, or clips) to features and logits.

    Attributes:
        name: "mnist", "digits", "shapes", "moving-mnist", "inception", ...
        fingerprint: architecture + weights hash; identifies cached reference statistics.
        input_shape: the ``(C, H, W)`` (audio: ``(1, L)``; video: ``(C, T, H, W)``) it
            accepts (None: any image size, resized).
        heads: ``{head name: classes}`` of its logits (the first head is the default).
        multi_label: the heads whose logits are independent sigmoids (a set of classes per
            sample), not one softmax; see :meth:`single_label`.
        cache_dir: where reference features for this extractor are cached.
        data: the ``data`` section of the classifier run's config (what it was trained
            on, e.g. Moving MNIST's canvas and digits); empty for built-in networks.
    """

    name: str
    fingerprint: str
    input_shape: tuple[int, ...] | None
    heads: dict[str, int]
    net: torch.nn.Module
    feature_fn: Callable[[Tensor], Tensor]  # images (B, C, H, W) -> features (B, D)
    head_fn: Callable[[Tensor], Tensor]  # features (B, D) -> logits (B, sum(heads))
    cache_dir: Path = DEFAULT_CACHE
    batch_size: int = 500
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    multi_label: tuple[str, ...] = ()
    data: dict = field(default_factory=dict)

    def check(self, x: Tensor) -> None:
        """Raise :class:`ConfigError` if ``x`` is not ``(N, *input_shape)`` samples."""
        shape = self.input_shape
        rank = 1 + (len(shape) if shape else 3)
        if x.ndim != rank or (shape is not None and tuple(x.shape[1:]) != shape):
            want = f"(N, {', '.join(map(str, shape))})" if shape else "(N, C, H, W)"
            what = {2: "waveforms", 4: "clips"}.get(len(shape) if shape else 3, "images")
            raise ConfigError(
                f"extractor '{self.name}': expects {what} {want}, got {tuple(x.shape)}"
            )
        if self.input_shape is None and x.shape[1] not in (1, 3):
            raise ConfigError(f"extractor '{self.name}': needs 1 or 3 channels, got {x.shape[1]}")

    def single_label(self, metric: str, heads: list[str] | None = None) -> None:
        """Raise :class:`ConfigError` if one of ``heads`` (default: the first) is
        multi-label: ``metric`` reads each sample's logits as one softmax distribution
        over classes, which independent sigmoid logits are not."""
        for head in heads if heads is not None else list(self.heads)[:1]:
            if head in self.multi_label:
                raise ConfigError(
                    f"--metrics {metric}: reads one softmax class per sample, but head "
                    f"'{head}' of extractor '{self.name}' is multi-label (a set of classes)"
                )

    @torch.no_grad()
    def _apply(self, fn, x: Tensor) -> Tensor:
        self.check(x)
        out = [
            fn(x[i : i + self.batch_size].to(self.device, torch.float32)).float().cpu()
            for i in range(0, len(x), self.batch_size)
        ]
        return torch.cat(out)

    def features(self, x: Tensor) -> Tensor:
        """``(N, D)`` float32 features of samples ``(N, *input_shape)`` in [-1, 1] (images
        ``(N, C, H, W)``, waveforms ``(N, 1, L)`` or clips ``(N, C, T, H, W)``)."""
        return self._apply(self.feature_fn, torch.as_tensor(x))

    def _split(self, z: Tensor) -> dict[str, Tensor]:
        return dict(zip(self.heads, z.split(list(self.heads.values()), dim=1)))

    def all_logits(self, x: Tensor) -> dict[str, Tensor]:
        """``{head: (N, K)}`` logits of every head."""
        return self._split(self._apply(self._logits, torch.as_tensor(x)))

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Both in one pass over the images: ``(N, D)`` and ``{head: (N, K)}``."""
        both = self._apply(self._both, torch.as_tensor(x))  # (N, D + sum(heads))
        d = sum(self.heads.values())
        return both[:, :-d], self._split(both[:, -d:])

    @torch.no_grad()
    def heads_of_features(self, f: Tensor) -> dict[str, Tensor]:
        """``{head: (N, K)}`` logits of features ``(N, D)`` (e.g. cached reference ones)."""
        return self._split(self.head_fn(f.to(self.device, torch.float32)).float().cpu())

    def _logits(self, b: Tensor) -> Tensor:
        return self.head_fn(self.feature_fn(b))

    def _both(self, b: Tensor) -> Tensor:
        f = self.feature_fn(b)
        return torch.cat([f, self.head_fn(f)], 1)

    def logits(self, x: Tensor, head: str | None = None) -> Tensor:
        """``(N, K)`` logits of ``head`` (default: the first head)."""
        heads = self.all_logits(x)
        head = head or next(iter(heads))
        if head not in heads:
            raise ConfigError(f"extractor '{self.name}': no head {head!r}; has {list(heads)}")
        return heads[head]


def default_classifier_dir(name: str) -> Path:
    return Path("runs") / f"eval-{name}-classifier"


def classifier_extractor(run: str | Path, device="cpu") -> Extractor:
    """An :class:`Extractor` from a classifier run directory (EMA weights)."""
    run = Path(run)
    found = load_network(run, "ema", device)
    kind = (found.config.get("objective") or {}).get("kind")
    if kind != "classify":
        raise CheckpointError(f"{run}: is a '{kind}' run, not a classifier run")
    net, m = found.module, found.model
    shape = m.input_shape()
    digest = found.fingerprint
    fp = f"classifier-{m.kind}-{'x'.join(map(str, shape))}:{digest}"
    recipe = str(found.config.get("recipe", ""))
    batch = int((found.config.get("sampler") or {}).get("batch_size", 500))
    return Extractor(
        name=recipe.removeprefix("eval-").removesuffix("-classifier") or str(run),
        fingerprint=fp,
        input_shape=tuple(shape),
        heads=dict(zip(m.head_names, m.heads)),
        net=net,
        feature_fn=net.features,
        head_fn=lambda f: net.head(net.drop(f)),
        cache_dir=run / "refstats",
        batch_size=batch,
        device=torch.device(device),
        multi_label=tuple(getattr(m, "multi_label", ())),
        data=dict(found.config.get("data") or {}),
    )


def inception_extractor(weights: str | Path | None, device="cpu", seed: int = 0) -> Extractor:
    """The FID Inception extractor; ``weights=None`` gives seeded random weights."""
    from genlab.models.inception import FIDInceptionV3, load_fid_inception, sha256_file

    if weights is None:
        torch.manual_seed(seed)
        net, fp = FIDInceptionV3().eval(), f"inception-v3-fid:random-seed{seed}"
    else:
        net = load_fid_inception(weights)
        fp = f"inception-v3-fid:{sha256_file(Path(weights))[:16]}"
    net = net.to(device)
    return Extractor(
        name="inception",
        fingerprint=fp,
        input_shape=None,
        heads={"imagenet": 1008},
        net=net,
        feature_fn=net,
        head_fn=net.fc,
        cache_dir=DEFAULT_CACHE,
        batch_size=50,
        device=torch.device(device),
    )


def get_extractor(
    name: str,
    path: str | Path | None = None,
    inception_weights: str | Path | None = None,
    device="cpu",
) -> Extractor:
    """The extractor ``name`` (see the module docstring). ``path`` is a classifier run
    directory (for the domain names) and ``inception_weights`` the FID weights file."""
    if name in DOMAINS:
        run = Path(path) if path else default_classifier_dir(name)
        if not (run / "config.yaml").is_file():
            raise CheckpointError(
                f"{run}: no trained {name} classifier; train it with `genlab train "
                f"eval-{name}-classifier --out {run}` or pass --extractor RUN"
            )
        return classifier_extractor(run, device)
    if name == "inception":
        if inception_weights is None:
            raise ConfigError(
                "--inception-weights: the Inception extractor needs the weights file "
                "pt_inception-2015-12-05-6726825d.pth (nothing is downloaded)"
            )
        return inception_extractor(inception_weights, device)
    if name == "inception-random":
        return inception_extractor(None, device)
    if path is not None:  # any classifier run
        return classifier_extractor(path, device)
    raise ConfigError(f"extractor: unknown name {name!r}; choose from {', '.join(NAMES)}")


def _atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def reference_key(data_cfg, fingerprint: str) -> str:
    import genlab.config as C

    blob = json.dumps(C.to_dict(data_cfg), sort_keys=True) + "|" + fingerprint
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load(path: Path) -> dict:
    """Every array of a cache file, labels gathered into ``"labels"``."""
    with np.load(path) as z:
        out = {k: z[k] for k in z.files if not k.startswith("label_") and k != "fingerprint"}
        out["labels"] = {k[6:]: z[k] for k in z.files if k.startswith("label_")}
    return {**out, "path": str(path), "cached": True}


def clip_motion(x: Tensor) -> dict[str, np.ndarray]:
    """``{"frame_change": (N,), "pixel_consistency": (N,)}`` float64 of clips ``x`` ``(N,
    C, T, H, W)`` in [-1, 1]: ``genlab.metrics.video.frame_difference`` and
    ``temporal_consistency`` of ``frame_pixels``, per clip."""
    from genlab.metrics.video import frame_difference, frame_pixels, temporal_consistency

    return {
        "frame_change": frame_difference(x).numpy(),
        "pixel_consistency": temporal_consistency(frame_pixels(x)).numpy(),
    }


def reference_features(data_cfg, extractor: Extractor, cache_dir: str | Path | None = None) -> dict:
    """Features and float64 statistics of dataset ``data_cfg`` under ``extractor``, cached.

    Returns ``{"features": (N, D) float32, "mu": (D,), "sigma": (D, D), "labels": {key:
    (N,)}, "path": cache file, "cached": bool}``; for video data (clips ``(N, C, T, H, W)``)
    also the real clips' :func:`clip_motion` (``"frame_change"``, ``"pixel_consistency"``),
    so that a cached reference never builds the clips again.
    """
    from genlab.data import build_dataset

    cache = Path(cache_dir) if cache_dir is not None else extractor.cache_dir
    path = cache / f"{data_cfg.name}-{reference_key(data_cfg, extractor.fingerprint)}.npz"
    if path.is_file():
        return _load(path)
    data = build_dataset(data_cfg)
    feats = extractor.features(data.x).numpy()  # (N, D)
    mu, sigma = gaussian_stats(feats)
    labels = {k: v.numpy() for k, v in data.cond.items() if v.ndim == 1}
    extra = clip_motion(data.x) if data.x.ndim == 5 else {}
    _atomic_savez(
        path,
        features=feats,
        mu=mu,
        sigma=sigma,
        fingerprint=np.array(extractor.fingerprint),
        **extra,
        **{f"label_{k}": v for k, v in labels.items()},
    )
    out = {"features": feats, "mu": mu, "sigma": sigma, "labels": labels, **extra}
    return {**out, "path": str(path), "cached": False}


def reference_frame_features(
    data_cfg, extractor: Extractor, cache_dir: str | Path | None = None
) -> dict:
    """Per-frame features of the clips of video dataset ``data_cfg`` under the image
    ``extractor`` (``genlab.metrics.video.per_frame_features``: frames resized whole to
    its input), cached like :func:`reference_features` (key: the data config and
    ``"frames:" + fingerprint``).

    Returns ``{"frame_features": (N, T, D) float32, "mu": (D,), "sigma": (D, D)`` (of all
    N*T frames, float64), ``"consistency": (N,)`` (``temporal_consistency`` per real clip),
    ``"path", "cached"}``.

    Raises:
        ConfigError: the data are not clips, or have channels the extractor does not take.
    """
    from genlab.data import build_dataset
    from genlab.metrics.video import per_frame_features, temporal_consistency

    cache = Path(cache_dir) if cache_dir is not None else extractor.cache_dir
    key = reference_key(data_cfg, "frames:" + extractor.fingerprint)
    path = cache / f"{data_cfg.name}-frames-{key}.npz"
    if path.is_file():
        return _load(path)
    f = per_frame_features(extractor, build_dataset(data_cfg).x)  # (N, T, D)
    mu, sigma = gaussian_stats(f.reshape(-1, f.shape[-1]))
    out = {
        "frame_features": f.numpy(),
        "mu": mu,
        "sigma": sigma,
        "consistency": temporal_consistency(f).numpy(),
    }
    _atomic_savez(path, fingerprint=np.array(extractor.fingerprint), **out)
    return {**out, "path": str(path), "cached": False}
