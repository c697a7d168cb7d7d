"""Images are read as a person sees them, whatever their mode; bombs and unreadable files are
clear errors (or skipped with data.skip_bad=true)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vizlab.data.images import BACKGROUND, folder_images, open_image
from vizlab.errors import VizlabError


def rgb(path) -> np.ndarray:
    image = open_image(path)
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def test_16_bit_grayscale_png_keeps_its_tones(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    assert Image.open(tmp_path / "ramp16.png").mode.startswith("I")
    seen = rgb(tmp_path / "ramp16.png")
    assert seen[0, 0].tolist() == [0, 0, 0] and seen[-1, -1].tolist() == [255, 255, 255]
    assert abs(seen.mean() - 127.5) < 2  # not all white
    expected = np.round(ramp / 257.0).astype(int)
    assert np.abs(seen[..., 0] - expected).max() <= 1


def test_float_tiff_in_unit_range(tmp_path):
    Image.fromarray(np.full((6, 6), 0.25, np.float32), "F").save(tmp_path / "f.tif")
    assert rgb(tmp_path / "f.tif")[0, 0].tolist() == [64, 64, 64]


def test_grayscale_becomes_three_equal_channels(tmp_path):
    Image.fromarray(np.full((5, 5), 90, np.uint8), "L").save(tmp_path / "g.png")
    assert rgb(tmp_path / "g.png")[2, 2].tolist() == [90, 90, 90]


def test_rgba_is_composited_on_white(tmp_path):
    pixels = np.zeros((4, 4, 4), np.uint8)
    pixels[..., 0] = 255
    pixels[:2, :, 3] = 255  # top opaque red, bottom fully transparent
    pixels[2, :, 3] = 128  # half transparent
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    seen = rgb(tmp_path / "a.png")
    assert seen[0, 0].tolist() == [255, 0, 0]
    assert seen[3, 0].tolist() == list(BACKGROUND)
    assert seen[2, 0, 0] == 255 and 120 <= seen[2, 0, 1] <= 135


def test_palette_with_a_transparent_index(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 255] + [255, 0, 0] + [0] * (254 * 3))
    image.paste(1, (0, 0, 2, 4))  # left half red, right half index 0 (transparent blue)
    image.save(tmp_path / "p.png", transparency=0)
    seen = rgb(tmp_path / "p.png")
    assert seen[0, 0].tolist() == [255, 0, 0]
    assert seen[0, 3].tolist() == list(BACKGROUND)


def test_palette_without_transparency(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([10, 200, 30] + [0] * (255 * 3))
    image.save(tmp_path / "p.gif")
    assert rgb(tmp_path / "p.gif")[1, 1].tolist() == [10, 200, 30]


@pytest.mark.parametrize("suffix", ["jpg", "tif"])
def test_cmyk_becomes_the_same_colour(tmp_path, suffix):
    Image.new("RGB", (8, 8), (200, 30, 60)).convert("CMYK").save(tmp_path / f"c.{suffix}")
    assert Image.open(tmp_path / f"c.{suffix}").mode == "CMYK"
    assert np.abs(rgb(tmp_path / f"c.{suffix}")[4, 4] - [200, 30, 60]).max() <= 4


def test_exif_orientation_is_applied(tmp_path):
    wide = Image.new("RGB", (40, 20), (0, 0, 0))
    wide.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display rotated 90 degrees clockwise
    wide.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    seen = rgb(tmp_path / "rot.jpg")
    assert seen.shape[:2] == (40, 20)  # upright: taller than wide
    assert seen[2, :, 0].min() > 200 and seen[-3, :, 0].max() < 60  # red strip now on top


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    Image.new("L", (300, 300)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 300 * 2 // 3)  # 1.5x: a warning
    with pytest.raises(VizlabError, match="decompression bomb") as err:
        open_image(tmp_path / "big.png")
    assert "big.png" in str(err.value)


def test_a_bomb_over_twice_the_limit_is_refused_too(tmp_path, monkeypatch):
    Image.new("L", (300, 300)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 300 // 10)
    with pytest.raises(VizlabError, match="big.png"):
        open_image(tmp_path / "big.png")


@pytest.fixture
def folder_with_a_bad_file(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.png", "c.png", "d.png"):
        Image.new("RGB", (8, 8), (1, 2, 3)).save(folder / name)
    (folder / "b.jpg").write_bytes(b"\xff\xd8 truncated")
    return folder


def test_a_folder_is_strict_by_default(folder_with_a_bad_file):
    with pytest.raises(VizlabError, match=r"b\.jpg.*data\.skip_bad=true"):
        folder_images(folder_with_a_bad_file)


def test_skip_bad_skips_unreadable_files_with_a_warning(folder_with_a_bad_file):
    with pytest.warns(UserWarning, match="b.jpg"):
        images = folder_images(folder_with_a_bad_file, limit=3, skip_bad=True)
    assert [name for name, _ in images] == ["a.png", "c.png", "d.png"]


def test_skip_bad_with_nothing_readable(tmp_path):
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(VizlabError, match="none of its 1 image files"), pytest.warns(UserWarning):
        folder_images(tmp_path, skip_bad=True)
