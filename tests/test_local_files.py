"""The local logger's PNGs: lossless, and written at zlib's fastest level (a sweep writes
several per job, and PIL's default level takes ~5x longer to encode)."""

import struct
from pathlib import Path

import numpy as np
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
