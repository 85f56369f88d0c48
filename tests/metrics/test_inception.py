"""The FID InceptionV3: pytorch-fid's layout and key names, loading, clear errors."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import CheckpointError
from genlab.models.inception import FIDInceptionV3, load_fid_inception, sha256_file


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return FIDInceptionV3().eval()


def test_state_dict_has_the_standard_keys_and_shapes(net):
    sd = net.state_dict()
    # 94 conv+BN units (conv weight, BN weight/bias/mean/var/num_batches_tracked) + fc.
    assert len(sd) == 566
    shapes = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.bn.running_var": (192,),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6e.branch7x7_2.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7b.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
        "fc.weight": (1008, 2048),
    }
    for k, s in shapes.items():
        assert tuple(sd[k].shape) == s, k
    assert sum(p.numel() for p in net.parameters()) == 23_850_960
    assert net.Mixed_7b.pool == "avg" and net.Mixed_7c.pool == "max"


def test_forward_gives_pool3_features_after_a_299_resize(net):
    x = torch.rand(1, 1, 28, 28) * 2 - 1
    assert net.preprocess(x).shape == (1, 3, 299, 299)
    with torch.no_grad():
        f = net(x)
    assert f.shape == (1, 2048) and (f >= 0).all()  # mean of ReLU outputs


def test_state_dict_round_trip_and_hash_check(net, tmp_path):
    path = tmp_path / "weights.pth"
    sd = {k: v for k, v in net.state_dict().items() if "num_batches_tracked" not in k}
    torch.save(sd, path)  # like older files: no num_batches_tracked
    with pytest.raises(CheckpointError, match="sha256"):
        load_fid_inception(path)
    back = load_fid_inception(path, check_hash=False)
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    assert len(sha256_file(path)) == 64


def test_missing_and_wrong_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found; genlab never downloads"):
        load_fid_inception(tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, bad)
    with pytest.raises(CheckpointError, match="not an FID Inception state dict"):
        load_fid_inception(bad, check_hash=False)
