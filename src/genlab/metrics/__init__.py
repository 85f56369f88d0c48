"""Metrics: feature extractors, FID/KID, precision/recall, mode coverage, likelihood.

``METRICS`` maps each name ``genlab eval --metrics`` accepts to a :class:`MetricInfo`
(``.doc`` is what ``genlab list metrics`` prints). The functions live in:

- ``fid``: ``frechet_distance``, ``gaussian_stats``, ``fid_from_features``
- ``kid``: ``kid`` (unbiased MMD^2, cubic kernel, subsets)
- ``prdc``: ``precision_recall`` (k=3), ``density_coverage`` (k=5)
- ``scores``: ``inception_score``, ``class_accuracy``, ``attribute_accuracy``,
  ``intra_class_fid``
- ``audio``: ``modified_inception_score``, ``am_score``, ``ndb``, ``cell_coverage``,
  ``mel_cepstral_distortion``, ``multi_resolution_stft``
- ``modes``: the PacGAN / VEEGAN 2-D protocol; ``points``: W1/W2, MMD for point sets
- ``stacked``: Stacked MNIST mode counting
- ``likelihood``: ``bits_per_dim``, probability-flow ODE log-likelihood
- ``video``: ``frechet_video_distance``, ``per_frame_features``, ``per_frame_fid``,
  ``temporal_consistency``, ``frame_difference``, the frame-prediction scores
- ``features``: ``get_extractor`` and cached reference features
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """What one ``--metrics`` name computes and on which data it applies."""

    doc: str
    # "image", "points", "video", "features" (image or audio: a classifier's), "captioned"
    # (images or clips with captions) or "any"
    modality: str


FEATURES = "features"  # metrics on a classifier's features or logits: images and audio
METRICS: dict[str, MetricInfo] = {
    "fid": MetricInfo("Frechet distance of feature Gaussians (float64, scipy sqrtm)", FEATURES),
    "kid": MetricInfo("kernel inception distance: unbiased MMD^2, cubic kernel, subsets", FEATURES),
    "pr": MetricInfo("precision and recall of k-NN manifolds (Kynkaanniemi 2019, k=3)", FEATURES),
    "dc": MetricInfo("density and coverage (Naeem 2020, k=5)", FEATURES),
    "is": MetricInfo("Inception-style score exp(E KL(p(y|x)||p(y))) from the classifier", FEATURES),
    "acc": MetricInfo("classifier accuracy of class-conditional samples", FEATURES),
    "attributes": MetricInfo(
        "per-attribute accuracy and exact match of text-to-image / text-to-video samples on "
        "their prompts' attributes (shapes / moving-shapes classifier heads)",
        "captioned",
    ),
    "clip": MetricInfo(
        "CLIP score of a text run's samples against their prompts (a dual-encoder run, "
        "--clip RUN; torchmetrics' 100 cos and Hessel's 2.5 max(cos, 0))",
        "image",
    ),
    "ifid": MetricInfo("intra-class FID: mean over classes of per-class FID", FEATURES),
    "mis": MetricInfo(
        "modified Inception score exp(E_ij KL(p(y|x_i)||p(y|x_j))) (Gurumurthy 2017)", FEATURES
    ),
    "am": MetricInfo("AM score: KL of class marginals + mean entropy (Zhou 2018)", FEATURES),
    "ndb": MetricInfo(
        "NDB/K: k-means bins (K=50) that differ by a z-test (Richardson 2018)", FEATURES
    ),
    "cells": MetricInfo(
        "label cells covered: every combination of the classifier's heads (digit x speaker)",
        FEATURES,
    ),
    "stacked": MetricInfo("Stacked MNIST: modes of 1000 covered and KL to uniform", "image"),
    "modes": MetricInfo("2-D modes captured, high-quality fraction, reverse KL (PacGAN)", "points"),
    "w": MetricInfo("exact W1 and W2 distances to held-out points (assignment)", "points"),
    "mmd": MetricInfo("unbiased MMD^2 with a Gaussian kernel to held-out points", "points"),
    "fvd": MetricInfo(
        "Frechet video distance of clip features (the video classifier's; Unterthiner 2018)",
        "video",
    ),
    "frame_fid": MetricInfo(
        "per-frame FID: every frame through the image classifier (runs/eval-mnist-classifier "
        "for moving-mnist), resized to its input",
        "video",
    ),
    "consistency": MetricInfo(
        "temporal consistency: mean cosine of consecutive frames' features (image "
        "classifier's, else pixels), and the real clips' value",
        "video",
    ),
    "frame_change": MetricInfo(
        "mean squared change between consecutive frames on [0, 1], the real clips' value and "
        "their ratio (1: as much motion as the data)",
        "video",
    ),
    "bpd": MetricInfo(
        "NLL and bits/dim of held-out data by the probability-flow ODE (flow/diffusion runs)",
        "any",
    ),
}

__all__ = ["METRICS", "MetricInfo"]
