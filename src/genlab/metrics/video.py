"""Video metrics: a local Frechet video distance, per-frame FID, temporal consistency, and
the frame-prediction errors (MSE, MAE, SSIM) with their trivial baselines.

Clips are ``(B, C, T, H, W)`` in [-1, 1] (genlab's convention) unless a function says
otherwise; features are ``(N, D)``, per-frame features ``(B, T, D)``.

- :func:`frechet_video_distance`: FVD (Unterthiner et al. 2018) on the clip features of
  genlab's own 3-D CNN (``genlab train eval-moving-mnist-classifier``), not on the
  Kinetics-trained I3D of the paper: figures compare within genlab, not with published
  FVDs.
- :func:`per_frame_features` / :func:`per_frame_fid`: every frame through an image
  extractor, as the per-frame FID of video papers (e.g. the MNIST classifier on Moving
  MNIST frames, resized to its input).
- :func:`temporal_consistency`: mean cosine similarity of consecutive frames' features
  (the CLIP frame-consistency score, with a local feature network), and
  :func:`frame_difference`, the mean squared change between consecutive frames.
- :func:`prediction_mse`, :func:`prediction_mae`, :func:`prediction_ssim` as OpenSTL
  reports them (Tan et al. 2023), and the :func:`zero_prediction` and
  :func:`copy_last_frame` floors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.errors import ConfigError
from genlab.metrics.fid import fid_from_features

# ---------------------------------------------------------------- distributions of clips


def _check_clips(x: Tensor, what: str) -> None:
    if x.ndim != 5:
        raise ConfigError(f"{what}: expects clips (B, C, T, H, W), got shape {tuple(x.shape)}")


def frechet_video_distance(feat_real, feat_fake) -> float:
    """Frechet video distance (Unterthiner et al. 2018, "Towards Accurate Generative Models
    of Video"): FID's Frechet distance (Heusel et al. 2017) applied to clip features,
    ``||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^{1/2})`` of Gaussians fitted to
    ``(N, D)`` clip features, in squared feature units, float64.

    The paper's features are the logits of an I3D network trained on Kinetics-400; here
    they are the penultimate features of genlab's 3-D CNN video classifier
    (``Extractor.features`` of a ``kind="video"`` classifier run on ``(N, C, T, H, W)``
    clips), so the figure is comparable only between runs scored by the same network
    (its fingerprint).

    Raises:
        GenlabError: fewer than 2 clips on a side, mismatched widths, or a degenerate
            square root (``genlab.metrics.fid.frechet_distance``).
    """
    return fid_from_features(feat_real, feat_fake)


def frames_as_images(x: Tensor) -> Tensor:
    """``(B, C, T, H, W)`` clips -> ``(B*T, C, H, W)`` frames, clip-major (frame ``t`` of
    clip ``b`` at row ``b*T + t``)."""
    _check_clips(x, "frames_as_images")
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)


def frame_pixels(x: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Each frame's pixels as a vector on the [0, 1] scale: clips ``(B, C, T, H, W)`` in
    ``value_range`` -> ``(B, T, C*H*W)`` float64 (features for
    :func:`temporal_consistency` without a network; black background counts as 0)."""
    _check_clips(x, "frame_pixels")
    b, t = x.shape[0], x.shape[2]
    return frames_as_images(_unit(x, value_range)).reshape(b, t, -1)


def per_frame_features(extractor, x: Tensor) -> Tensor:
    """Per-frame features ``(B, T, D)`` of clips ``(B, C, T, H, W)`` in [-1, 1] under an
    image ``extractor`` (:class:`genlab.metrics.features.Extractor`).

    Frames whose size differs from the extractor's input ``(C, S, S)`` are resized
    whole to ``S x S`` (bilinear with antialiasing), never cropped: Moving MNIST's two
    digits roam the whole 64x64 frame, so a 28x28 crop for the MNIST classifier would
    drop them, while a resize keeps both (at 28/64 of their size, the same for real and
    generated frames, so the Frechet distance stays a fair comparison even though the
    digits are smaller than the ones that classifier learned). Extractors of any size
    (Inception) take the frames as they are.

    Raises:
        ConfigError: not clips, or channels the extractor does not take.
    """
    _check_clips(x, "per_frame_features")
    b, t = x.shape[0], x.shape[2]
    frames = frames_as_images(torch.as_tensor(x).float())  # (B*T, C, H, W)
    shape = extractor.input_shape
    if shape is not None and len(shape) == 3 and tuple(frames.shape[2:]) != tuple(shape[1:]):
        frames = F.interpolate(
            frames, size=tuple(shape[1:]), mode="bilinear", antialias=True, align_corners=False
        ).clamp(-1, 1)
    f = extractor.features(frames)  # (B*T, D)
    return f.view(b, t, -1)


def per_frame_fid(frame_feat_real: Tensor, frame_feat_fake: Tensor) -> float:
    """FID (Heusel et al. 2017) between all frames of two clip sets, from their
    :func:`per_frame_features` ``(B, T, D)`` (or already flat ``(N, D)``): it measures
    the quality of single frames and is blind to motion (a shuffled clip scores the
    same)."""
    real = torch.as_tensor(frame_feat_real)
    fake = torch.as_tensor(frame_feat_fake)
    return fid_from_features(real.reshape(-1, real.shape[-1]), fake.reshape(-1, fake.shape[-1]))


# ---------------------------------------------------------------- temporal coherence


def temporal_consistency(frame_features: Tensor) -> Tensor:
    """Per clip ``(B,)``: the mean cosine similarity of the features of consecutive frames,
    ``1/(T-1) sum_t cos(f_t, f_{t+1})``, from ``(B, T, D)`` per-frame features.

    This is the frame-consistency score of text-to-video editing papers (Esser et al.
    2023, Gen-1; Wu et al. 2023, Tune-A-Video: the mean CLIP cosine of consecutive
    frames), with whatever image network gave ``frame_features``
    (:func:`per_frame_features`), or raw pixels (:func:`frame_pixels`). Range
    ``[-1, 1]``; ``[0, 1]`` for non-negative features such as genlab classifiers' (ReLU)
    and pixels; for pixels, frames of independent uniform noise score 3/4 on average.
    1 means every frame has
    the same features (a still clip scores 1: read it beside :func:`frame_difference`, or
    against real clips' score, not as "higher is better"). A frame of all-zero features
    counts as similarity 0.

    Raises:
        ConfigError: not ``(B, T >= 2, D)``.
    """
    f = torch.as_tensor(frame_features)
    if f.ndim != 3 or f.shape[1] < 2:
        raise ConfigError(
            f"temporal_consistency: expects per-frame features (B, T >= 2, D), got {tuple(f.shape)}"
        )
    f = f.double()
    cos = F.cosine_similarity(f[:, 1:], f[:, :-1], dim=2, eps=1e-12)  # (B, T-1)
    return cos.mean(1)


def frame_difference(x: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Per clip ``(B,)``: the mean squared change between consecutive frames on the [0, 1]
    scale, ``1/(T-1) sum_t mean_pixels (x_{t+1} - x_t)^2`` (``x`` ``(B, C, T, H, W)`` in
    ``value_range``). 0 for a still clip, 1/6 for frames of independent uniform noise.
    A generator's mean over the real clips' mean is its motion relative to the data
    (1: as much change per frame as real video; well above 1: flicker; near 0: frozen),
    the comparison the warping-error metrics (Lai et al. 2018) make after compensating
    the real motion with optical flow, which genlab does not estimate."""
    _check_clips(x, "frame_difference")
    u = _unit(x, value_range)
    return (u[:, :, 1:] - u[:, :, :-1]).pow(2).mean((1, 3, 4)).mean(1)


# ---------------------------------------------------------------- frame prediction


def _unit(x: Tensor, value_range: tuple[float, float]) -> Tensor:
    """``x`` mapped from ``value_range`` to [0, 1], float64."""
    lo, hi = value_range
    if not hi > lo:
        raise ConfigError(f"value_range: needs low < high, got {value_range}")
    return (torch.as_tensor(x).double() - lo) / (hi - lo)


def _pair(pred: Tensor, target: Tensor, what: str) -> None:
    _check_clips(pred, what)
    if pred.shape != target.shape:
        raise ConfigError(
            f"{what}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ"
        )


def prediction_mse(
    pred: Tensor, target: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> Tensor:
    """Per clip ``(B,)``: squared error summed over each frame's pixels (C, H, W) on the
    [0, 1] scale, averaged over the T frames; the mean over clips is OpenSTL's "MSE" (Tan
    et al. 2023: the mean over clips and frames, the sum over pixels), the MSE of Moving
    MNIST frame-prediction tables.

    Args:
        pred, target: clips ``(B, C, T, H, W)`` in ``value_range`` ([-1, 1] by default;
            ``(0, 1)`` for frames already on the unit scale).
    Raises:
        ConfigError: not clips, or different shapes.
    """
    _pair(pred, target, "prediction_mse")
    err = (_unit(pred, value_range) - _unit(target, value_range)).pow(2)
    return err.sum((1, 3, 4)).mean(1)


def prediction_mae(
    pred: Tensor, target: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> Tensor:
    """Per clip ``(B,)``: absolute error summed over each frame's pixels on the [0, 1]
    scale, averaged over frames; the mean over clips is OpenSTL's "MAE". Arguments and
    errors as :func:`prediction_mse`."""
    _pair(pred, target, "prediction_mae")
    err = (_unit(pred, value_range) - _unit(target, value_range)).abs()
    return err.sum((1, 3, 4)).mean(1)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """The normalised 1-D Gaussian ``(size,)`` float64 whose outer product is SSIM's
    window (Wang et al. 2004, Sec. III-C: 11x11, sigma 1.5)."""
    k = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(k**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    a: Tensor,
    b: Tensor,
    size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_range: float = 1.0,
) -> Tensor:
    """Mean SSIM per image ``(N,)`` of images ``(N, C, H, W)`` on a ``data_range`` scale
    (Wang et al. 2004, Eq. 13 with C3 = C2/2, so Eq. 16):
    ``((2 mu_a mu_b + C1)(2 s_ab + C2)) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2))``
    with ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``, local statistics under a Gaussian window
    (``size``, ``sigma``; population moments), averaged over every position where the
    window fits inside the image (no padding, as scikit-image crops its border) and
    over channels. Float64. 1 for identical images; in [-1, 1].

    Raises:
        ConfigError: different shapes, or images smaller than the window.
    """
    if a.shape != b.shape or a.ndim != 4:
        raise ConfigError(f"ssim: expects two (N, C, H, W), got {tuple(a.shape)}, {tuple(b.shape)}")
    n, c, h, w = a.shape
    if min(h, w) < size:
        raise ConfigError(f"ssim: images {h}x{w} are smaller than the {size}x{size} window")
    g = gaussian_window(size, sigma).to(a.device)
    a = a.double().reshape(n * c, 1, h, w)
    b = b.double().reshape(n * c, 1, h, w)

    def blur(z: Tensor) -> Tensor:  # separable Gaussian, valid positions only
        z = F.conv2d(z, g.view(1, 1, 1, size))
        return F.conv2d(z, g.view(1, 1, size, 1))  # (NC, 1, H-size+1, W-size+1)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return (num / den).mean((1, 2, 3)).view(n, c).mean(1)


def prediction_ssim(
    pred: Tensor, target: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> Tensor:
    """Per clip ``(B,)``: :func:`ssim` of each predicted frame against its target on the
    [0, 1] scale (data range 1, 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03),
    averaged over frames; the mean over clips is the SSIM of frame-prediction tables.
    OpenSTL's code calls scikit-image's default (a 7x7 uniform window with sample
    covariances), so its figures differ from these in the second or third decimal.
    Arguments and errors as :func:`prediction_mse`; frames must be at least 11x11."""
    _pair(pred, target, "prediction_ssim")
    b, t = pred.shape[0], pred.shape[2]
    s = ssim(
        frames_as_images(_unit(pred, value_range)), frames_as_images(_unit(target, value_range))
    )
    return s.view(b, t).mean(1)


def prediction_scores(
    pred: Tensor, target: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> dict[str, float]:
    """``{"mse", "mae", "ssim"}``: the means over clips of :func:`prediction_mse`,
    :func:`prediction_mae` and :func:`prediction_ssim` (a frame-prediction table's row),
    and ``"psnr"``, the mean over clips and frames of ``10 log10(1 / mean-pixel MSE)`` dB
    (inf for a perfect frame; OpenSTL rounds frames to 8 bits first, this does not).
    Arguments and errors as :func:`prediction_mse`."""
    _pair(pred, target, "prediction_scores")
    u, v = _unit(pred, value_range), _unit(target, value_range)
    per_pixel = (u - v).pow(2).mean((1, 3, 4))  # (B, T)
    psnr = (10 * torch.log10(1 / per_pixel)).mean()
    return {
        "mse": float(prediction_mse(u, v, (0.0, 1.0)).mean()),
        "mae": float(prediction_mae(u, v, (0.0, 1.0)).mean()),
        "ssim": float(prediction_ssim(u, v, (0.0, 1.0)).mean()),
        "psnr": float(psnr),
    }


def copy_last_frame(context: Tensor, n: int) -> Tensor:
    """The copy-last-frame baseline: the last context frame repeated, ``(B, C, n, H, W)``
    from context clips ``(B, C, T, H, W)``."""
    _check_clips(context, "copy_last_frame")
    return context[:, :, -1:].expand(-1, -1, n, -1, -1).clone()


def zero_prediction(context: Tensor, n: int, value: float = -1.0) -> Tensor:
    """The all-zero baseline: ``n`` frames of ``value`` (-1, black: 0 on the [0, 1] scale
    the prediction errors use) shaped like the context's, ``(B, C, n, H, W)``; its
    :func:`prediction_mse` is the mean sum of squared target pixels."""
    _check_clips(context, "zero_prediction")
    b, c, _, h, w = context.shape
    return torch.full((b, c, n, h, w), value, dtype=context.dtype, device=context.device)
