"""MNIST IDX reading, the MNIST / Fashion-MNIST loader and the checked download."""

import functools
import gzip
import hashlib
import shutil
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import DATASETS
from genlab.data import mnist as M
from genlab.data.configs import FashionMNISTConfig, MNISTConfig
from genlab.data.mnist import download, make_mnist, read_idx
from genlab.errors import ConfigError, DataError

# The official MNIST test set beside the project: <repo>/../shared/data/mnist.
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
T10K = (IMAGES, LABELS)
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def real():
    if not all((SHARED / f).is_file() for f in T10K):
        pytest.skip(f"official MNIST test files not found in {SHARED}")
    return SHARED


def write_idx(path, array, gz=None):
    """Write ``array`` as an IDX file (gzipped if the name ends in .gz), independently
    of the reader: magic ``00 00 type ndim``, big-endian sizes, big-endian payload."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    a = np.asarray(array)
    head = bytes([0, 0, codes[a.dtype.str[1:]], a.ndim])
    head += b"".join(d.to_bytes(4, "big") for d in a.shape)
    data = head + a.astype(a.dtype.newbyteorder(">")).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# --- read_idx ---


def test_read_real_t10k(real):
    x, y = read_idx(real / IMAGES), read_idx(real / LABELS)
    assert x.shape == (10_000, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (10_000,) and y.dtype == torch.uint8
    assert x.min() == 0 and x.max() == 255
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(y.long(), minlength=10).tolist() == TEST_COUNTS


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-5, 0, 7], dtype=np.int8),
        np.array([[-300, 2], [3, 30_000]], dtype=np.int16),
        np.array([1, -(2**31), 2**31 - 1], dtype=np.int32),
        np.array([[0.5, -1.25, 3e10]], dtype=np.float32),
        np.array([np.pi, -np.e], dtype=np.float64),
    ],
)
def test_idx_round_trip(tmp_path, array, suffix):
    back = read_idx(write_idx(tmp_path / f"a.idx{suffix}", array))
    assert back.shape == array.shape
    assert np.array_equal(back.numpy(), array) and back.numpy().dtype == array.dtype


def _one_line_error(path, match):
    with pytest.raises(DataError, match=match) as err:
        read_idx(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_payload(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (10_000, 28, 28))
    path.write_bytes(gzip.compress(header + bytes(1234)))
    _one_line_error(path, "truncated: expected 7840000 bytes of pixel data, found 1234")


def test_truncated_header_and_trailing_bytes(tmp_path):
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    _one_line_error(short, "truncated")
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\0\0")
    _one_line_error(tiny, "truncated")
    extra = write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    extra.write_bytes(extra.read_bytes() + b"\0")
    _one_line_error(extra, "trailing bytes: expected 5 bytes of label data, found 6")


def test_bad_magic(tmp_path):
    path = tmp_path / "x-ubyte"
    path.write_bytes(bytes.fromhex("12345678") + bytes(100))
    _one_line_error(path, r"bad magic number 0x12345678 \(not an IDX file\)")
    path.write_bytes(bytes([0, 0, 0x07, 1]) + (3).to_bytes(4, "big") + bytes(3))
    _one_line_error(path, "unknown IDX type 0x07")


def test_not_gzip_and_corrupt_gzip(tmp_path):
    raw = write_idx(tmp_path / "labels-idx1-ubyte", np.arange(200, dtype=np.uint8))
    fake = tmp_path / "labels-idx1-ubyte.gz"
    shutil.copy(raw, fake)  # raw bytes under a .gz name
    _one_line_error(fake, "not a gzip file")
    packed = gzip.compress(raw.read_bytes())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    _one_line_error(cut, "corrupt gzip")
    flipped = bytearray(packed)
    flipped[len(packed) // 2] ^= 0xFF
    bad = tmp_path / "flipped.gz"
    bad.write_bytes(bytes(flipped))
    _one_line_error(bad, "corrupt gzip")


def test_missing_file(tmp_path):
    _one_line_error(tmp_path / "nope.gz", "cannot read")


# --- the loader ---


def test_registry_configs():
    assert DATASETS["mnist"].config().name == "mnist"
    assert DATASETS["mnist"].config().root == "data/mnist"
    fashion = DATASETS["fashion-mnist"].config()
    assert fashion.name == "fashion-mnist" and fashion.root == "data/fashion-mnist"


def test_load_real_test_split(real):
    ds = make_mnist(MNISTConfig(root=str(real), split="test"))
    assert ds.x.shape == (10_000, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.x.min() == -1 and ds.x.max() == 1
    pixels = read_idx(real / IMAGES)
    assert torch.allclose((ds.x[:, 0] + 1) * 127.5, pixels.float(), atol=1e-4)
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    assert torch.bincount(ds.cond["class"], minlength=10).tolist() == TEST_COUNTS
    part = make_mnist(MNISTConfig(root=str(real), split="test", start=100, stop=250))
    assert torch.equal(part.x, ds.x[100:250])
    assert torch.equal(part.cond["class"], ds.cond["class"][100:250])
    big = make_mnist(MNISTConfig(root=str(real), split="test", stop=64, image_size=32))
    assert big.x.shape == (64, 1, 32, 32) and big.x.min() >= -1 and big.x.max() <= 1


def _fake_split(root, n=12, prefix="train", raw_images=True):
    """Tiny IDX files: images raw (no .gz), labels gzipped, as the loader accepts both."""
    root.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[0, 0, :2] = [0, 255]
    labels = np.arange(n, dtype=np.uint8) % 10
    name = f"{prefix}-images-idx3-ubyte" + ("" if raw_images else ".gz")
    write_idx(root / name, images)
    write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return images, labels


def test_load_raw_and_gz_files_and_fashion_names(tmp_path):
    images, labels = _fake_split(tmp_path / "fm")
    ds = make_mnist(FashionMNISTConfig(root=str(tmp_path / "fm"), split="train"))
    assert torch.equal(ds.cond["class"], torch.from_numpy(labels).long())
    assert ds.x[0, 0, 0, 0] == -1 and ds.x[0, 0, 0, 1] == 1
    assert torch.allclose((ds.x[:, 0] + 1) * 127.5, torch.from_numpy(images).float(), atol=1e-4)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    small = make_mnist(MNISTConfig(root=str(tmp_path / "fm"), image_size=14))
    assert small.x.shape == (12, 1, 14, 14) and small.class_names[3] == "3"


def test_missing_root_suggests_download(tmp_path):
    with pytest.raises(DataError, match="data.download=true") as err:
        make_mnist(MNISTConfig(root=str(tmp_path / "absent")))
    assert str(tmp_path / "absent") in str(err.value) and "data.root=" in str(err.value)


def test_missing_file_is_named(tmp_path):
    _fake_split(tmp_path, prefix="train")
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte.*data.download=true"):
        make_mnist(MNISTConfig(root=str(tmp_path), split="test"))


def test_mismatched_files(tmp_path):
    _fake_split(tmp_path, n=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with pytest.raises(DataError, match="11 labels for 12 images"):
        make_mnist(MNISTConfig(root=str(tmp_path)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(12, 10, np.uint8))
    with pytest.raises(DataError, match="label 10 out of range"):
        make_mnist(MNISTConfig(root=str(tmp_path)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"start": 12}, "data.start"),
        ({"start": 5, "stop": 5}, "data.start"),
        ({"start": -1}, "data.start"),
        ({"stop": 13}, "data.stop: 13 is past the end"),
        ({"stop": -2}, "data.stop"),
        ({"image_size": 0}, "data.image_size"),
    ],
)
def test_bad_range(tmp_path, kwargs, match):
    _fake_split(tmp_path, n=12)
    with pytest.raises(ConfigError, match=match):
        make_mnist(MNISTConfig(root=str(tmp_path), **kwargs))


# --- download, against a local HTTP server ---


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(monkeypatch):
    """``serve(directory) -> base URL`` of a local HTTP server for that directory."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    servers = []

    def start(directory):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.fixture
def mirror(real, tmp_path):
    """A directory holding copies of the official t10k files, to be served."""
    site = tmp_path / "site"
    site.mkdir()
    for name in T10K:
        shutil.copy(real / name, site / name)
    return site


def test_download_verifies_official_md5(mirror, serve, tmp_path):
    root = tmp_path / "root"
    paths = download(root, "mnist", base_url=serve(mirror), files=T10K)
    assert paths == [root / IMAGES, root / LABELS]
    assert sorted(p.name for p in root.iterdir()) == sorted(T10K)  # no temporary files
    for name in T10K:
        assert _md5(root / name) == M.MD5["mnist"][name]
    assert read_idx(root / IMAGES).shape == (10_000, 28, 28)
    # Present with the right md5: skipped, so no server is needed.
    assert download(root, "mnist", base_url=_closed_port_url(), files=T10K) == paths
    # Present but wrong: fetched again and replaced.
    (root / LABELS).write_bytes(b"stale")
    download(root, "mnist", base_url=serve(mirror), files=[LABELS])
    assert _md5(root / LABELS) == M.MD5["mnist"][LABELS]


def test_download_rejects_bad_md5_and_leaves_nothing(mirror, serve, tmp_path):
    data = bytearray((mirror / LABELS).read_bytes())
    data[100] ^= 0x01
    (mirror / LABELS).write_bytes(bytes(data))
    root = tmp_path / "root"
    with pytest.raises(DataError, match="md5") as err:
        download(root, "mnist", base_url=serve(mirror), files=[LABELS])
    msg = str(err.value)
    assert LABELS in msg and M.MD5["mnist"][LABELS] in msg
    assert hashlib.md5(bytes(data)).hexdigest() in msg
    assert list(root.iterdir()) == []


def test_download_falls_back_to_next_mirror(mirror, serve, tmp_path):
    down, empty = _closed_port_url(), serve(tmp_path)  # refused; then HTTP 404
    root = tmp_path / "root"
    download(root, "mnist", base_url=[down, empty, serve(mirror)], files=T10K)
    assert all(_md5(root / n) == M.MD5["mnist"][n] for n in T10K)


def test_download_all_mirrors_down(tmp_path, serve):
    urls = [_closed_port_url(), serve(tmp_path)]
    with pytest.raises(DataError, match="download failed") as err:
        download(tmp_path / "root", "mnist", base_url=urls, files=[LABELS])
    assert all(u + LABELS in str(err.value) for u in urls) and "404" in str(err.value)
    assert list((tmp_path / "root").iterdir()) == []


def test_loader_downloads_when_asked(mirror, serve, tmp_path, monkeypatch):
    monkeypatch.setitem(M.MIRRORS, "mnist", (serve(mirror),))
    root = tmp_path / "fresh"
    ds = make_mnist(MNISTConfig(root=str(root), split="test", stop=100, download=True))
    assert ds.x.shape == (100, 1, 28, 28)
    assert sorted(p.name for p in root.iterdir()) == sorted(T10K)


def test_download_unknown_file(tmp_path):
    with pytest.raises(ValueError, match="unknown MNIST file"):
        download(tmp_path, "mnist", files=["t10k-images.gz"])
