"""Built-in photos: scikit-image's photos read without importing ``skimage.io`` (the same
arrays), and the reference images of built-in photos prepared once per process and input spec,
so the jobs of a sweep share them; image files are read each time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from vizlab.data import images
from vizlab.data.images import BUILTIN_PHOTOS, builtin_photo, load_references, preprocess
from vizlab.models.wrapper import InputSpec

SPEC = InputSpec((32, 32), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic", 0.875)
SKIMAGE_PHOTOS = {
    "chelsea": "chelsea",
    "coffee": "coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
    "motorcycle": "stereo_motorcycle",
    "hubble_deep_field": "hubble_deep_field",
    "retina": "retina",
    "camera": "camera",
    "coins": "coins",
    "moon": "moon",
    "grass": "grass",
    "gravel": "gravel",
    "brick": "brick",
}


@pytest.fixture
def cold_cache():
    cache = getattr(images, "_preprocessed_builtin", None)
    if cache is not None:
        cache.cache_clear()
    yield
    if cache is not None:
        cache.cache_clear()


@pytest.mark.parametrize("name", sorted(SKIMAGE_PHOTOS))
def test_skimage_photos_are_skimages_arrays(name):
    data = pytest.importorskip("skimage.data")
    expected = getattr(data, SKIMAGE_PHOTOS[name])()
    expected = expected[0] if isinstance(expected, tuple) else expected
    got = BUILTIN_PHOTOS[name]()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_a_builtin_photo_does_not_import_skimage_io():
    pytest.importorskip("skimage")
    code = (
        "import sys\n"
        "from vizlab.data.images import builtin_photo\n"
        "builtin_photo('chelsea')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('skimage.io', 'scipy'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _counting(monkeypatch, name):
    calls = []
    loader = BUILTIN_PHOTOS[name]

    def load():
        calls.append(name)
        return loader()

    monkeypatch.setitem(BUILTIN_PHOTOS, name, load)
    return calls


def test_builtin_references_are_prepared_once_per_spec(cold_cache, monkeypatch):
    calls = _counting(monkeypatch, "chelsea")
    cfg = OmegaConf.create({"source": "builtin", "image": "chelsea", "images": None})
    first = load_references(cfg, SPEC)
    again = load_references(cfg, SPEC)
    assert calls == ["chelsea"]  # decoded and resized once
    expected = preprocess(builtin_photo("chelsea"), SPEC)[None]
    assert torch.equal(first.images, expected) and torch.equal(again.images, expected)
    assert first.names == again.names == ["chelsea"]
    first.images.zero_()  # a caller's copy: the next job gets the photo, not this
    assert torch.equal(load_references(cfg, SPEC).images, expected)
    bigger = InputSpec((48, 40), SPEC.mean, SPEC.std, "bilinear", 1.0)
    assert torch.equal(
        load_references(cfg, bigger).images, preprocess(builtin_photo("chelsea"), bigger)[None]
    )
    assert len(calls) == 4  # + the two expected values, and once for the new spec


def test_several_builtin_references_keep_their_order(cold_cache):
    cfg = OmegaConf.create({"source": "builtin", "image": "chelsea", "images": ["coffee", "moon"]})
    refs = load_references(cfg, SPEC)
    assert refs.names == ["coffee", "moon"]
    for i, name in enumerate(refs.names):
        assert torch.equal(refs.images[i], preprocess(builtin_photo(name), SPEC))


def test_an_image_file_is_read_again_each_time(cold_cache, tmp_path):
    file = tmp_path / "photo.png"
    cfg = OmegaConf.create({"source": "builtin", "image": str(file), "images": None})
    Image.new("RGB", (40, 40), (255, 0, 0)).save(file)
    red = load_references(cfg, SPEC).images
    Image.new("RGB", (40, 40), (0, 0, 255)).save(file)
    blue = load_references(cfg, SPEC).images
    assert red[0, 0].min() == 1 and blue[0, 2].min() == 1 and blue[0, 0].max() == 0
