"""Image folders: one subfolder per class, loaded with Pillow."""

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
