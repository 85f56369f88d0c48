"""Run logging: ``metrics.jsonl`` (one JSON object per logged step), TensorBoard scalars
and images, and a progress line. Only the main process writes."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genlab.config import atomic_write_text


def truncate_metrics(path: Path, step: int) -> None:
    """Drop rows logged after ``step`` (they are recomputed on resume), atomically."""
    if not path.is_file():
        return
    keep = [
        ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step
    ]
    atomic_write_text(path, "".join(ln + "\n" for ln in keep))


def read_metrics(path: Path) -> list[dict]:
    """All rows of a ``metrics.jsonl``."""
    return [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]


class RunLog:
    """Writes metrics rows and images for one training session."""

    def __init__(
        self,
        run_dir: Path,
        enabled: bool,
        start: int,
        total: int,
        tensorboard: bool = True,
        show: tuple[str, ...] = ("loss",),
    ):
        """``show``: the row's figures printed on the progress line, by their names
        (a GAN shows ``d_loss`` and ``g_loss``, so it is clear whose loss is whose)."""
        self.enabled, self.path = enabled, Path(run_dir) / "metrics.jsonl"
        self.show = show
        self.tb = None
        self.bar = None
        if not enabled:
            return
        truncate_metrics(self.path, start)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=start + 1)
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(
            total=total, initial=start, disable=not self.tty, unit="step", dynamic_ncols=True
        )
        self.t0 = time.time()

    def scalars(self, row: dict) -> None:
        """Append ``row`` (must hold ``step``) to metrics.jsonl and TensorBoard."""
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        step = row["step"]
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k, v, step)
        msg = {k: f"{row[k]:.4g}" for k in self.show if k in row}
        msg["samples/s"] = f"{row.get('samples_per_s', 0):.0f}"
        if "mfu" in row:
            msg["mfu"] = f"{row['mfu']:.1%}"
        if self.tty:
            self.bar.set_postfix(msg, refresh=False)
        else:  # no progress bar in logs: one line per logged step instead
            print(f"step {step} " + " ".join(f"{k}={v}" for k, v in msg.items()), file=sys.stderr)

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def image(self, tag: str, arr: np.ndarray, step: int) -> None:
        """An ``(H, W, C)`` uint8 picture to TensorBoard."""
        if self.tb is not None:
            self.tb.add_image(tag, arr, step, dataformats="HWC")

    def audio(self, tag: str, clip, step: int, sample_rate: int) -> None:
        """A waveform ``(1, L)`` in [-1, 1] to TensorBoard's audio tab."""
        if self.tb is not None:
            self.tb.add_audio(tag, clip.detach().float().cpu().clamp(-1, 1), step, sample_rate)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
