"""InceptionV3 in the layout of pytorch-fid's FID network, in pure PyTorch.

FID (Heusel et al. 2017) is defined on the pool3 features (2048-d) of the TensorFlow
Inception graph ``inception-2015-12-05``. pytorch-fid ported those weights to the file
``pt_inception-2015-12-05-6726825d.pth`` (95,628,359 bytes, sha256 ``6726825d0af5...``),
a state dict of torchvision's ``Inception3`` layout (1008 logits, no auxiliary head),
with three differences from torchvision's blocks that reproduce the TF graph:

- ``FIDInceptionA/C/E_1``: the pooling branch's 3x3 average pool excludes padding
  (``count_include_pad=False``);
- ``FIDInceptionE_2`` (``Mixed_7c``): the pooling branch uses a 3x3 *max* pool.

This module builds that network with the same state-dict key names
(``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch_pool.bn.running_var``, ``fc.weight``,
... 566 entries) and loads the file only when the user passes it
(``--inception-weights PATH``), after checking its sha256. Nothing is downloaded.
Inputs in [-1, 1] are resized to 299x299 bilinearly (``align_corners=False``), as
pytorch-fid does; grey images are repeated over 3 channels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.errors import CheckpointError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_NAME
)
NUM_LOGITS = 1008  # the TF graph's classes (1000 ImageNet + 8 unused)
FEATURES = 2048  # pool3
RESIZE = 299


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: Tensor) -> Tensor:
    """The TF graph's 3x3 stride-1 average pool: padding is not counted."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 -> 224 + pool_features."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, c, self.branch_pool(_avg3(x))], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 -> 480 + cin."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)


class FIDInceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (``c7`` channels inside) -> 768."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding)
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, row[0], padding=row[1])
        self.branch7x7_3 = BasicConv2d(c7, 192, col[0], padding=col[1])
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, col[0], padding=col[1])
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, row[0], padding=row[1])
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, col[0], padding=col[1])
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, row[0], padding=row[1])
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for k in range(2, 6):
            c = getattr(self, f"branch7x7dbl_{k}")(c)
        return torch.cat([a, b, c, self.branch_pool(_avg3(x))], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2 -> 512 + cin."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_1(x)
        for k in range(2, 5):
            b = getattr(self, f"branch7x7x3_{k}")(b)
        return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 branches -> 2048. ``pool="avg"`` is pytorch-fid's
    ``FIDInceptionE_1`` (Mixed_7b), ``pool="max"`` its ``FIDInceptionE_2`` (Mixed_7c)."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        pooled = _avg3(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([a, b, c, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception network: ``forward(x) -> (B, 2048)`` pool3 features of images
    ``(B, 1 or 3, H, W)`` in [-1, 1]; ``logits(x) -> (B, 1008)``."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, c7=128)
        self.Mixed_6c = FIDInceptionC(768, c7=160)
        self.Mixed_6d = FIDInceptionC(768, c7=160)
        self.Mixed_6e = FIDInceptionC(768, c7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, pool="avg")
        self.Mixed_7c = FIDInceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURES, NUM_LOGITS)

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        """``(B, 1|3, H, W)`` in [-1, 1] -> ``(B, 3, 299, 299)`` (bilinear resize)."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (RESIZE, RESIZE):
            x = F.interpolate(x, size=(RESIZE, RESIZE), mode="bilinear", align_corners=False)
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self.preprocess(x)  # (B, 3, 299, 299)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # (B, 64, 147, 147)
        x = F.max_pool2d(x, 3, stride=2)  # 73x73
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # (B, 192, 71, 71)
        x = F.max_pool2d(x, 3, stride=2)  # 35x35
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)  # -> (B, 2048, 8, 8)
        return x.mean((2, 3))  # (B, 2048) pool3

    def logits(self, x: Tensor) -> Tensor:
        """``(B, 1008)`` logits from the pool3 features (for an Inception Score)."""
        return self.fc(self.forward(x))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_fid_inception(path: str | Path, check_hash: bool = True) -> FIDInceptionV3:
    """The FID network with the weights file at ``path``, in eval mode.

    Raises:
        CheckpointError: the file is absent, its sha256 is not :data:`WEIGHTS_SHA256`
            (when ``check_hash``), or its keys/shapes do not match the network.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: Inception weights not found; genlab never downloads them: fetch "
            f"{WEIGHTS_NAME} ({WEIGHTS_URL}) yourself and pass --inception-weights PATH"
        )
    if check_hash and (digest := sha256_file(path)) != WEIGHTS_SHA256:
        raise CheckpointError(
            f"{path}: sha256 {digest[:16]}... is not that of {WEIGHTS_NAME} "
            f"({WEIGHTS_SHA256[:16]}...)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or non-torch file
        raise CheckpointError(f"{path}: cannot read as a state dict ({e})") from None
    net = FIDInceptionV3()
    load_state(net, state, str(path))
    return net.eval()


def load_state(net: nn.Module, state: dict, source: str) -> None:
    """Load ``state`` strictly, ignoring only missing BatchNorm ``num_batches_tracked``."""
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in own]
    bad = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or bad:
        first = (missing or extra or bad)[0]
        raise CheckpointError(
            f"{source}: not an FID Inception state dict ({len(missing)} missing, "
            f"{len(extra)} unexpected, {len(bad)} mis-shaped keys; e.g. {first})"
        )
    net.load_state_dict({**own, **state})
