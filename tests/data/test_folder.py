"""Image folders: one subfolder per class, loaded with Pillow."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import DATASETS, build_dataset
from genlab.data.folder import ImageFolderConfig, make_folder
from genlab.errors import ConfigError, DataError

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _solid(path, size, color, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def _stripes(path, width=60, height=20):
    """Three vertical bands, red | green | blue, each a third of the width."""
    a = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    a[:, :third], a[:, third : 2 * third], a[:, 2 * third :] = RED, GREEN, BLUE
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


@pytest.fixture
def tree(tmp_path):
    """root/{cat,dog,zebra} with PNG, JPEG, GIF, BMP, WebP, a nested folder and clutter."""
    root = tmp_path / "root"
    _solid(root / "cat" / "a.png", (40, 20), RED)
    _stripes(root / "cat" / "b.png")
    _solid(root / "cat" / "sub" / "c.bmp", (16, 16), BLUE)
    _solid(root / "dog" / "d.jpg", (30, 30), GREEN)
    _solid(root / "dog" / "e.gif", (10, 12), BLUE, mode="P")
    _solid(root / "zebra" / "f.webp", (24, 48), (255, 255, 255))
    _solid(root / "zebra" / "G.PNG", (20, 20), 128, mode="L")
    (root / "dog" / "notes.txt").write_text("not an image")
    _solid(root / "dog" / ".hidden.png", (8, 8), RED)
    _solid(root / ".cache" / "x.png", (8, 8), RED)
    return root


def test_loads_classes_shapes_and_range(tree):
    ds = make_folder(ImageFolderConfig(root=str(tree), image_size=16))
    assert ds.x.shape == (7, 3, 16, 16) and ds.x.dtype == torch.float32
    assert ds.x.min() >= -1 and ds.x.max() <= 1
    assert ds.class_names == ("cat", "dog", "zebra") and ds.num_classes == 3
    assert ds.cond["class"].tolist() == [0, 0, 0, 1, 1, 2, 2]


def _rgb(x):
    """``(3, S, S)`` in [-1, 1] -> ``(S, S, 3)`` in 0..255."""
    return ((x + 1) * 127.5).permute(1, 2, 0)


def test_pixels_colours_and_center_crop(tree):
    x = make_folder(ImageFolderConfig(root=str(tree), image_size=16)).x
    # Sorted within a class: a.png, b.png, sub/c.bmp; then d.jpg, e.gif; then G.PNG, f.webp.
    assert torch.allclose(_rgb(x[0]), torch.tensor(RED).float().expand(16, 16, 3), atol=0.5)
    assert torch.allclose(_rgb(x[2]), torch.tensor(BLUE).float().expand(16, 16, 3), atol=0.5)
    assert torch.allclose(_rgb(x[4]), torch.tensor(BLUE).float().expand(16, 16, 3), atol=0.5)
    assert torch.allclose(_rgb(x[5]), torch.full((16, 16, 3), 128.0), atol=0.5)  # grey L -> RGB
    # JPEG and WebP are lossy: close to green and white.
    assert (_rgb(x[3]) - torch.tensor(GREEN).float()).abs().max() < 8
    assert (_rgb(x[6]) - 255).abs().max() < 8
    # 60x20 stripes -> 48x16 -> center 16 columns: the green band (blended at its edges).
    stripes = _rgb(x[1])
    assert torch.allclose(stripes[:, 2:-2], torch.tensor(GREEN).float().expand(16, 12, 3), atol=1)
    assert stripes[..., 1].mean() > 200 and stripes[..., 0].mean() < 30


def test_greyscale_channels(tree):
    ds = make_folder(ImageFolderConfig(root=str(tree), image_size=8, channels=1))
    assert ds.x.shape == (7, 1, 8, 8)
    red_as_l = round(0.299 * 255)  # Pillow's ITU-R 601-2 luma of pure red
    assert torch.allclose((ds.x[0] + 1) * 127.5, torch.full((1, 8, 8), float(red_as_l)), atol=0.5)


def test_extensions_filter(tree):
    cfg = ImageFolderConfig(
        root=str(tree), image_size=8, extensions=("png", ".BMP", ".gif", ".JPG")
    )
    ds = make_folder(cfg)
    assert len(ds) == 6  # f.webp left out; extensions match in any case
    # A class folder with no image of the chosen kinds is an error, naming the folder.
    with pytest.raises(DataError, match="dog: no images with extensions .bmp, .png"):
        make_folder(ImageFolderConfig(root=str(tree), extensions=(".png", ".bmp")))


def test_registered(tree):
    cfg = DATASETS["folder"].config(root=str(tree), image_size=4)
    assert cfg.name == "folder" and build_dataset(cfg).x.shape == (7, 3, 4, 4)


def test_corrupt_image_is_named(tree):
    bad = tree / "dog" / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(DataError, match="cannot read image") as err:
        make_folder(ImageFolderConfig(root=str(tree)))
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_truncated_image_is_named(tree):
    good = _stripes(tree / "zebra" / "h.png", width=300, height=200)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="h.png: cannot read image"):
        make_folder(ImageFolderConfig(root=str(tree)))


def test_empty_and_missing_root(tmp_path):
    with pytest.raises(DataError, match="no class subfolders"):
        make_folder(ImageFolderConfig(root=str(tmp_path)))
    with pytest.raises(DataError, match="no such directory"):
        make_folder(ImageFolderConfig(root=str(tmp_path / "absent")))
    with pytest.raises(ConfigError, match="data.root"):
        make_folder(ImageFolderConfig())


def test_loose_images_without_class_folders(tmp_path):
    _solid(tmp_path / "a.png", (8, 8), RED)
    _solid(tmp_path / "b.png", (8, 8), RED)
    with pytest.raises(DataError, match=r"no class subfolders \(found 2 images directly in it\)"):
        make_folder(ImageFolderConfig(root=str(tmp_path)))


def test_empty_class_folder(tmp_path):
    _solid(tmp_path / "a" / "x.png", (8, 8), RED)
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match="b: no images"):
        make_folder(ImageFolderConfig(root=str(tmp_path)))


def test_bad_config(tree):
    with pytest.raises(ConfigError, match="data.image_size"):
        make_folder(ImageFolderConfig(root=str(tree), image_size=0))
    with pytest.raises(ConfigError, match="data.channels"):
        make_folder(ImageFolderConfig(root=str(tree), channels=2))


# ----------------------------------------------- every Pillow mode and bit depth


GREY = 32768  # a 16-bit mid grey: 2 * 32768 / 65535 - 1 = 1.5259e-5


def _load_one(tmp_path, name, save, channels=3, size=2, **cfg):
    """Write one image with ``save(path)`` into a one-class folder and load it: ``(C, S, S)``."""
    path = tmp_path / "root" / "c" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    save(path)
    ext = (path.suffix,)
    return make_folder(
        ImageFolderConfig(
            root=str(tmp_path / "root"), image_size=size, channels=channels, extensions=ext, **cfg
        )
    ).x[0]


def _png(a, bit_depth, color_type):
    """A minimal PNG of ``a`` ``(H, W, C)`` unsigned ints (colour types 0 grey, 2 RGB, 4 grey +
    alpha, 6 RGBA; bit depth 1, 2, 4, 8 or 16), written without Pillow."""
    import struct
    import zlib

    h, w = a.shape[:2]
    if bit_depth >= 8:
        dt = ">u2" if bit_depth == 16 else "u1"
        rows = [a[y].astype(dt).tobytes() for y in range(h)]
    else:
        bits = np.unpackbits(a.astype("u1").reshape(h, -1, 1), axis=2)[..., 8 - bit_depth :]
        rows = [np.packbits(bits[y].reshape(-1)).tobytes() for y in range(h)]
    raw = b"".join(b"\x00" + r for r in rows)

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    head = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _grey(x, channel=0):
    """The 2x2 grey levels of channel ``channel`` in row order, as a list of floats."""
    return [float(v) for v in x[channel].reshape(-1)]


def _scaled(v, white):
    return float(np.float32(2 * v / white - 1))


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_greyscale_keeps_its_scale(tmp_path, ext, channels):
    """I;16: white 65535 -> +1, mid grey -> ~0 (Pillow's convert clipped it at 255: +1)."""
    a = np.array([[0, 65535], [GREY, 256]], np.uint16)
    x = _load_one(tmp_path, "g" + ext, lambda p: Image.fromarray(a).save(p), channels)
    assert x.shape == (channels, 2, 2)
    want = [-1.0, 1.0, _scaled(GREY, 65535), _scaled(256, 65535)]
    for c in range(channels):
        assert _grey(x, c) == pytest.approx(want, abs=1e-7)


def test_16_bit_big_endian_tiff_and_resizing(tmp_path):
    a = np.array([[0, 65535], [GREY, 65535]], ">u2")
    save = lambda p: Image.frombytes("I;16B", (2, 2), a.tobytes()).save(p)  # noqa: E731
    x = _load_one(tmp_path, "b.tif", save, 1)
    assert _grey(x) == pytest.approx([-1.0, 1.0, _scaled(GREY, 65535), 1.0], abs=1e-7)
    # a flat 16-bit mid grey stays mid grey when resized (it was white at 8 bits)
    flat = np.full((8, 8), GREY, np.uint16)
    y = _load_one(tmp_path / "r", "f.png", lambda p: Image.fromarray(flat).save(p), 1, size=4)
    assert y.abs().max() < 1e-4


def test_16_bit_pgm_opens_as_mode_i_rescaled(tmp_path):
    def save(maxval, vals):
        def write(p):
            data = np.array(vals, ">u2").tobytes()
            p.write_bytes(b"P5\n2 2\n%d\n" % maxval + data)

        return write

    x = _load_one(tmp_path, "a.pgm", save(65535, [0, 65535, GREY, 65535]), 1)
    assert _grey(x) == pytest.approx([-1.0, 1.0, _scaled(GREY, 65535), 1.0], abs=1e-7)
    y = _load_one(tmp_path / "b", "b.pgm", save(1023, [0, 1023, 1023, 0]), 1)  # 10-bit white
    assert _grey(y) == pytest.approx([-1.0, 1.0, 1.0, -1.0], abs=1e-6)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_mode_1_white_is_plus_one(tmp_path, ext):
    a = np.array([[0, 1], [1, 0]], bool)
    for channels in (1, 3):
        x = _load_one(
            tmp_path / str(channels), "m" + ext, lambda p: Image.fromarray(a).save(p), channels
        )
        assert _grey(x, channels - 1) == pytest.approx([-1.0, 1.0, 1.0, -1.0], abs=1e-6)


def test_8_bit_grey_palette_rgb_cmyk_exact(tmp_path):
    a = np.array([[0, 255], [128, 64]], np.uint8)
    want = [-1.0, 1.0, _scaled(128, 255), _scaled(64, 255)]
    x = _load_one(tmp_path / "l", "l.png", lambda p: Image.fromarray(a).save(p))
    assert _grey(x) == pytest.approx(want, abs=1e-6)
    pal = Image.new("P", (2, 2))
    pal.putpalette([0, 0, 0, 255, 255, 255, 128, 128, 128, 64, 64, 64])
    pal.putdata([0, 1, 2, 3])
    for ext in (".png", ".gif", ".bmp"):
        x = _load_one(tmp_path / ext[1:], "p" + ext, pal.save, 3)
        assert all(_grey(x, c) == pytest.approx(want, abs=1e-6) for c in range(3))
    cmyk = Image.new("CMYK", (2, 2))
    cmyk.putdata([(0, 0, 0, 255), (0, 0, 0, 0), (0, 0, 0, 127), (255, 0, 0, 0)])
    x = _load_one(tmp_path / "cmyk", "k.tif", cmyk.save, 3)
    assert _grey(x, 0) == pytest.approx(
        [-1.0, 1.0, _scaled(128, 255), -1.0], abs=1e-6
    )  # cyan: no red
    assert _grey(x, 1)[3] == pytest.approx(1.0, abs=1e-6) and _grey(x, 2)[3] == pytest.approx(
        1.0, abs=1e-6
    )


def test_ycbcr_converts_to_rgb():
    from genlab.data.folder import pixels

    im = Image.new("YCbCr", (2, 1))
    im.putdata([(0, 128, 128), (255, 128, 128)])
    a, white = pixels(im, 3, 1.0, None)
    assert white == 255 and a.tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_16_bit_rgb_and_rgba_png(tmp_path):
    """Pillow reads 16-bit RGB(A) PNGs at 8 bits per channel: the scale must survive."""
    rgb = np.array([[[0, 0, 0], [65535] * 3], [[GREY] * 3, [65535, 0, 0]]])
    x = _load_one(tmp_path / "a", "rgb16.png", lambda p: p.write_bytes(_png(rgb, 16, 2)))
    assert _grey(x, 0) == pytest.approx([-1.0, 1.0, _scaled(128, 255), 1.0], abs=1e-6) and _grey(
        x, 1
    )[3] == pytest.approx(-1.0, abs=1e-6)
    rgba = np.array([[[0, 0, 0, 65535], [65535] * 4], [[65535, 0, 0, 0], [0, 0, 0, GREY]]])
    y = _load_one(tmp_path / "b", "rgba16.png", lambda p: p.write_bytes(_png(rgba, 16, 6)))
    # transparent red -> white background; black at alpha 128/255 -> 127/255 grey
    assert _grey(y, 1) == pytest.approx([-1.0, 1.0, 1.0, _scaled(127, 255)], abs=1e-6)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_low_bit_depth_greyscale_png(tmp_path, bits):
    top = 2**bits - 1
    a = np.array([[0, top], [top, 0]])[..., None]
    x = _load_one(tmp_path, "g.png", lambda p: p.write_bytes(_png(a, bits, 0)), 1)
    assert _grey(x) == pytest.approx([-1.0, 1.0, 1.0, -1.0], abs=1e-6)


def test_transparency_is_composited_over_the_background(tmp_path):
    la = np.array([[[0, 255], [255, 255]], [[0, 0], [0, 128]]], np.uint8)  # grey + alpha
    save = lambda p: Image.fromarray(la, "LA").save(p)  # noqa: E731
    white = _load_one(tmp_path / "w", "la.png", save, 1)
    assert _grey(white) == pytest.approx([-1.0, 1.0, 1.0, _scaled(127, 255)], abs=1e-6)
    black = _load_one(tmp_path / "k", "la.png", save, 3, background=0.0)
    assert _grey(black, 2) == pytest.approx([-1.0, 1.0, -1.0, -1.0], abs=1e-6)
    # RGBA: a fully transparent red pixel is background, not red
    rgba = np.array(
        [[[255, 0, 0, 0], [255, 0, 0, 255]], [[0, 0, 255, 255], [0, 0, 0, 0]]], np.uint8
    )
    x = _load_one(tmp_path / "rgba", "t.png", lambda p: Image.fromarray(rgba, "RGBA").save(p))
    assert _grey(x, 0) == pytest.approx([1.0, 1.0, -1.0, 1.0], abs=1e-6) and _grey(
        x, 1
    ) == pytest.approx([1.0, -1.0, -1.0, 1.0], abs=1e-6)
    # palette and greyscale PNG/GIF with a transparent colour
    pal = Image.new("P", (2, 2))
    pal.putpalette([0, 0, 0, 255, 255, 255, 255, 0, 0])
    pal.putdata([0, 1, 2, 2])
    for ext in (".png", ".gif"):
        y = _load_one(
            tmp_path / ext[1:], "p" + ext, lambda p: pal.save(p, transparency=2), 1, background=0.5
        )
        assert _grey(y) == pytest.approx([-1.0, 1.0, 0.0, 0.0], abs=1e-6)
    grey = Image.fromarray(np.array([[0, 255], [9, 9]], np.uint8))
    z = _load_one(
        tmp_path / "lt", "l.png", lambda p: grey.save(p, transparency=9), 1, background=0.0
    )
    assert _grey(z) == pytest.approx([-1.0, 1.0, -1.0, -1.0], abs=1e-6)


def test_rgb_to_greyscale_and_grey_to_rgb(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], np.uint8)
    x = _load_one(tmp_path / "a", "c.png", lambda p: Image.fromarray(rgb).save(p), 1)
    luma = [round(0.299 * 255), round(0.587 * 255), round(0.114 * 255), 255]  # Pillow's L
    assert _grey(x) == pytest.approx([_scaled(v, 255) for v in luma], abs=1e-6)
    a16 = np.array([[0, 65535], [GREY, 0]], np.uint16)
    y = _load_one(tmp_path / "b", "g.png", lambda p: Image.fromarray(a16).save(p), 3)
    assert torch.equal(y[0], y[1]) and torch.equal(y[1], y[2])


def test_exif_orientation_is_applied(tmp_path):
    """A 4x2 image tagged "rotate 90 CW" (orientation 6) is shown 2 wide, 4 tall."""
    a = np.zeros((2, 4), np.uint8)
    a[:, 2:] = 255  # left half black, right half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    x = _load_one(tmp_path, "o.png", lambda p: Image.fromarray(a).save(p, exif=exif), 1)
    assert _grey(x) == pytest.approx(
        [-1.0, -1.0, 1.0, 1.0], abs=1e-6
    )  # upright: top row black, bottom row white


@pytest.mark.parametrize(
    ("name", "save", "mode"),
    [
        (
            "f.tif",
            lambda p: Image.fromarray(np.array([[0.0, 1.0], [0.5, 2.0]], np.float32)).save(p),
            "F",
        ),
        (
            "i.tif",
            lambda p: Image.fromarray(np.array([[0, 1], [2**20, -5]], np.int32)).save(p),
            "I",
        ),
        ("lab.tif", lambda p: Image.new("LAB", (2, 2)).save(p), "LAB"),
        (
            "t16.png",
            lambda p: Image.fromarray(np.array([[0, 7], [7, 9]], np.uint16)).save(
                p, transparency=7
            ),
            "I;16",
        ),
    ],
    ids=["F", "I32", "LAB", "I16-transparent"],
)
def test_modes_without_a_white_level_are_refused_by_name(tmp_path, name, save, mode):
    with pytest.raises(DataError, match=f"image mode {re.escape(mode)} is not supported") as err:
        _load_one(tmp_path, name, save)
    assert str(tmp_path / "root" / "c" / name) in str(err.value) and "\n" not in str(err.value)


def test_background_is_checked(tree):
    with pytest.raises(ConfigError, match="data.background"):
        make_folder(ImageFolderConfig(root=str(tree), background=2.0))
