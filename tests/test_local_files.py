"""The local logger's PNGs: lossless, and written at zlib's fastest level (a sweep writes
several per job, and PIL's default level takes ~5x longer to encode)."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vizlab.loggers.local import LocalLogger
from vizlab.methods.base import Result
from vizlab.plotting import curves, labelled_grid


def _zlib_level_class(path: Path) -> int:
    """FLEVEL of the first IDAT chunk's zlib header (0 = fastest ... 3 = maximum)."""
    data = path.read_bytes()[8:]
    while data:
        length, kind = struct.unpack(">I4s", data[:8])
        if kind == b"IDAT":
            return data[9] >> 6  # the second byte (FLG) of the zlib stream
        data = data[12 + length :]
    raise AssertionError(f"no IDAT in {path}")


def test_pngs_are_lossless_and_fast_to_encode(tmp_path):
    image = np.random.default_rng(0).random((40, 48, 3)).astype(np.float32)
    result = Result(
        images={"preimage": image},
        figures={
            "energy": curves({"energy": [100.0, 1.0, 0.01]}),
            "grid": labelled_grid(torch.rand(2, 3, 16, 16), ["a", "b"], 2),
        },
    )
    logger = LocalLogger(tmp_path)
    logger.log_result(result)
    saved = np.asarray(Image.open(tmp_path / "preimage.png"))
    assert np.array_equal(saved, (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
    for name in ("preimage", "energy", "grid"):
        assert _zlib_level_class(tmp_path / f"{name}.png") == 0, name


def _omegaconf_yaml(config):
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(config))


def test_config_yaml_is_omegaconfs_text(tmp_path):
    from omegaconf import OmegaConf

    from vizlab.config import compose

    run = OmegaConf.to_container(compose(["model=tiny_cnn"]), resolve=True)
    shared = [1, 2]
    odd = {
        "a": "${not.resolved}",
        "b": "???",
        "c": "yes",
        "d": "1e-5",
        "e": 1e-5,
        "f": None,
        "g": [True, 0, -1.5, "x: y", "", "null", "ü"],
        "h": {"nested": {"deeper": [{"k": "v"}]}},
        "i": "multi\nline",
        "shared": shared,
        "again": shared,  # YAML would alias it; OmegaConf writes it twice
    }
    for config in (run, odd, {}):
        logger = LocalLogger(tmp_path / str(len(config)))
        logger.start(config)
        assert (logger.run_dir / "config.yaml").read_text() == _omegaconf_yaml(config)


def test_a_plain_config_is_written_without_omegaconf_nodes(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    expected = _omegaconf_yaml({"method": {"name": "inversion", "C": 100.0}, "tags": ["a"]})
    monkeypatch.setattr(OmegaConf, "create", lambda *a, **k: pytest.fail("built nodes"))
    logger = LocalLogger(tmp_path)
    logger.start({"method": {"name": "inversion", "C": 100.0}, "tags": ["a"]})
    assert (tmp_path / "config.yaml").read_text() == expected
