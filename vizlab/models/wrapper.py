"""A model plus what visualization needs: its input spec, layer addressing by dotted
module path, activation capture that stops the forward pass at the deepest layer needed,
receptive fields, and the conversion between the paper's pixel units and the model input."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import torch
from torch import nn

from vizlab.devices import OnDevice, autocast
from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.models.receptive_field import ReceptiveField, linearized_copy, measure

T = TypeVar("T")

OUTPUT = "output"
"""Layer name that stands for the model's final output (the logits of a classifier)."""


class _StopForward(Exception):
    """Raised by a hook once the deepest requested layer has run (no wasted compute)."""


def forward_until(root: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The output of submodule ``layer`` of ``root`` for input ``x``, stopping the forward pass
    there (the first element when the module returns a tuple). The hook lives only inside
    this call."""
    box: dict[str, torch.Tensor] = {}

    def hook(_m, _i, out):
        box["out"] = out[0] if isinstance(out, (tuple, list)) else out
        raise _StopForward

    handle = root.get_submodule(layer).register_forward_hook(hook)
    try:
        root(x)
    except _StopForward:
        pass
    finally:
        handle.remove()
    return box["out"]


@dataclass(frozen=True)
class InputSpec:
    """How the model expects its input (from timm's pretrained config or the model config's
    ``input``); ``mean`` and ``std`` are in [0, 1] pixel units."""

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    crop_pct: float = 0.875

    @classmethod
    def from_model(cls, model: nn.Module) -> InputSpec:
        from vizlab.models.timm_import import import_timm

        import_timm()
        from timm.data import resolve_model_data_config

        cfg = resolve_model_data_config(model)
        _, h, w = cfg["input_size"]
        # A ViT built with another img_size (DINOv2 at 224 rather than its pretrained 518)
        # keeps the pretrained_cfg size; its patch embedding knows the size it was built for.
        built = getattr(getattr(model, "patch_embed", None), "img_size", None)
        if isinstance(built, (tuple, list)) and len(built) == 2:
            h, w = built
        return cls(
            (int(h), int(w)),
            tuple(cfg["mean"]),
            tuple(cfg["std"]),
            cfg.get("interpolation", "bicubic"),
            float(cfg.get("crop_pct", 0.875)),
        )


class PixelUnits:
    """Conversions between three spaces of one image.

    * unit: RGB in [0, 1] (what files hold);
    * paper: RGB in [0, 255] with the mean colour subtracted -- the units of all of
      Mahendran & Vedaldi's constants (B = 80, V = B/6.5, ...), see their footnote 2;
    * model: the model's normalized input (x_unit - mean) / std.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self._mean, self._std = OnDevice(self.mean), OnDevice(self.std)
        # One number when every channel has the same scale 255 std (mean = std = 0.5, as the
        # EfficientNet-Lite models): the division's backward of the network's channels-last
        # input gradient is then vectorized, while a per-channel divisor broadcast over an
        # innermost axis of three is not. The same numbers either way.
        scales = (255.0 * self.std).flatten().tolist()
        self._scale = scales[0] if len(set(scales)) == 1 else None

    def _m(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std on ``x``'s device and dtype (copied there once: these conversions run
        every optimization step)."""
        return self._mean(x), self._std(x)

    def paper_to_model(self, x: torch.Tensor) -> torch.Tensor:
        if self._scale is not None:
            return x / self._scale
        _, std = self._m(x)
        return x / (255.0 * std)

    def model_to_paper(self, x: torch.Tensor) -> torch.Tensor:
        _, std = self._m(x)
        return x * (255.0 * std)

    def unit_to_paper(self, x: torch.Tensor) -> torch.Tensor:
        mean, _ = self._m(x)
        return (x - mean) * 255.0

    def paper_to_unit(self, x: torch.Tensor) -> torch.Tensor:
        mean, _ = self._m(x)
        return x / 255.0 + mean

    def unit_to_model(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._m(x)
        return (x - mean) / std

    def model_to_unit(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._m(x)
        return x * std + mean


class VisionModel:
    """A frozen classifier (or backbone) addressed by dotted module paths: any nn.Module that
    maps a batch of images (N x 3 x H x W) to logits or features."""

    def __init__(
        self,
        module: nn.Module,
        name: str,
        device: str | torch.device = "cpu",
        spec: InputSpec | None = None,
    ):
        self.module = module.to(device)
        self.name = name
        self.device = torch.device(device)
        self.precision = "fp32"  # bf16 / fp16: the forward pass runs under torch.autocast
        self.spec = spec or InputSpec.from_model(module)
        self.units = PixelUnits(self.spec.mean, self.spec.std)
        self._modules = dict(module.named_modules())
        self._geometry: dict[tuple, object] = {}

    def share_geometry(self, cache: dict[tuple, object]) -> None:
        """Keep measured geometry (execution order, output shapes, receptive fields; keyed by
        input size) in ``cache``, shared by every wrapper of this module: the jobs of a sweep on
        one model then trace each of them once."""
        self._geometry = cache

    def _measured(self, key: tuple, measure: Callable[[], T]) -> T:
        if key not in self._geometry:
            self._geometry[key] = measure()
        return self._geometry[key]  # type: ignore[return-value]

    # ----- layers ---------------------------------------------------------------------------
    @cached_property
    def layer_names(self) -> list[str]:
        return [n for n in self._modules if n]

    @cached_property
    def num_classes(self) -> int:
        """Classes of the output (timm's ``num_classes``; for other models the width of a
        2-D output, 0 for a backbone whose output is a feature map)."""
        declared = getattr(self.module, "num_classes", None)
        if isinstance(declared, int):
            return declared
        with torch.no_grad():
            out = self.module(torch.zeros(1, 3, *self.spec.size, device=self.device))
        out = out[0] if isinstance(out, (tuple, list)) else out
        return int(out.shape[1]) if isinstance(out, torch.Tensor) and out.ndim == 2 else 0

    @property
    def is_vit(self) -> bool:
        return hasattr(self.module, "patch_embed") and hasattr(self.module, "num_prefix_tokens")

    def resolve(self, layer: str) -> nn.Module:
        """The module at ``layer`` (a name from ``named_modules()``), or a clear error."""
        if layer == OUTPUT:
            return self.module
        if layer not in self._modules or not layer:
            hint = nearest(layer, self.layer_names)
            raise VizlabError(
                f"'{layer}' is not a layer of {self.name} (target.layer). Nearest valid names: "
                f"{format_choices(hint) or format_choices(self.layer_names)}. Any dotted path from "
                f"model.named_modules() works; `vizlab layers model.name={self.name}` lists them "
                f"with shapes."
            )
        return self._modules[layer]

    @property
    def execution_order(self) -> list[str]:
        """Module names in the order their forward passes finish (one traced forward at the
        working size)."""
        return self._measured(("order", self.spec.size), self._trace_order)

    def _trace_order(self) -> list[str]:
        order: list[str] = []
        handles = [
            m.register_forward_hook(lambda *_, n=n: order.append(n))
            for n, m in self._modules.items()
            if n
        ]
        try:
            with torch.no_grad():
                self.module(torch.zeros(1, 3, *self.spec.size, device=self.device))
        finally:
            for h in handles:
                h.remove()
        seen: dict[str, None] = {}
        for n in order:
            seen.setdefault(n, None)
        return list(seen)

    def depth(self, layer: str) -> int:
        """Position of ``layer`` in execution order (for sorting layers in plots)."""
        if layer == OUTPUT:
            return len(self.execution_order)
        self.resolve(layer)
        order = self.execution_order
        return order.index(layer) if layer in order else len(order)

    def deepest(self, layers: Sequence[str]) -> str:
        return max(layers, key=self.depth)

    # ----- activations ----------------------------------------------------------------------
    @contextmanager
    def capture(
        self, layers: Sequence[str], stop: bool = True
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Record the outputs of ``layers`` during forward passes run inside the block.

        With ``stop`` the forward pass is interrupted right after the deepest of them ran.
        Hooks are always removed on exit.
        """
        store: dict[str, torch.Tensor] = {}
        wanted = [n for n in layers if n != OUTPUT]
        last = self.deepest(wanted) if stop and wanted and OUTPUT not in layers else None

        def make_hook(name: str):
            def hook(_module, _inputs, output):
                store[name] = output[0] if isinstance(output, (tuple, list)) else output
                if name == last:
                    raise _StopForward

            return hook

        handles = [self.resolve(n).register_forward_hook(make_hook(n)) for n in wanted]
        try:
            yield store
        finally:
            for h in handles:
                h.remove()

    def features(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` (and the output if ``OUTPUT`` is among them) for the
        model-space input ``x``; the forward pass stops at the deepest layer needed."""
        with self.capture(layers) as store, autocast(self.device, self.precision):
            try:
                out = self.module(x)
                store[OUTPUT] = out
            except _StopForward:
                pass
        missing = [n for n in layers if n not in store]
        if missing:  # a module that exists but is never called (an unused head, a dropout)
            raise VizlabError(
                f"Layer(s) {', '.join(missing)} of {self.name} never ran in the forward pass, so "
                "they have no activations; choose a module that runs (`vizlab layers --all`)."
            )
        if self.precision == "fp32":
            return {n: store[n] for n in layers}
        return {n: store[n].float() for n in layers}  # autocast outputs back to fp32

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if not self.num_classes:
            raise VizlabError(
                f"{self.name} has no classification head (num_classes=0), so it has no logits. "
                "Use a target on an intermediate layer (target=channel / token_dim) or a "
                "classifier model."
            )
        with autocast(self.device, self.precision):
            out = self.module(x)
        return out if self.precision == "fp32" else out.float()

    # ----- geometry -------------------------------------------------------------------------
    @cached_property
    def _linearized(self) -> nn.Module:
        return linearized_copy(self.module).to(self.device)

    def receptive_field(self, layer: str, probe_size: int | None = None) -> ReceptiveField:
        """Receptive-field stride and size of ``layer``'s units (see receptive_field.py)."""
        self.resolve(layer)
        size = probe_size or max(self.spec.size)
        key = ("rf", layer, size)
        if key in self._geometry:
            return self._geometry[key]  # type: ignore[return-value]
        exact = getattr(self.module, "receptive_field", None)
        if callable(exact):  # a hand-built representation that knows its geometry (HOG)
            rf = exact(layer)
        elif self.is_vit:
            rf = self._vit_receptive_field(layer)
        else:
            probe = self._linearized
            modules = dict(probe.named_modules())
            if layer != OUTPUT and layer not in modules:
                # The layer was linearized away (e.g. an activation): use its parent.
                parent = layer.rsplit(".", 1)[0]
                return self.receptive_field(parent, probe_size)

            def forward_to_layer(x: torch.Tensor) -> torch.Tensor:
                if layer == OUTPUT:
                    return probe(x.to(self.device))
                return forward_until(probe, layer, x.to(self.device))

            fixed = getattr(self.module, "pretrained_cfg", {}).get("fixed_input_size", False)
            rf = measure(forward_to_layer, size, max_size=size if fixed else 1024)
            if not rf.spatial:
                rf = self._nonspatial_receptive_field(layer, probe_size)
        self._geometry[key] = rf
        return rf

    def _nonspatial_receptive_field(self, layer: str, probe_size: int | None) -> ReceptiveField:
        """A pooled or fully connected output (e.g. logits) sees the whole image; its stride is
        that of the deepest spatial layer before it (AlexNet's fc8 has stride 32 in M&V's
        Table 1), which is what the jitter T = stride / 4 needs."""
        shapes = self.output_shapes()
        depth = self.depth(layer)
        spatial = [
            n
            for n in self.execution_order  # 4-D with more than one position
            if len(shapes.get(n, ())) == 4
            and shapes[n][-1] * shapes[n][-2] > 1
            and self.depth(n) < depth
        ]
        if not spatial:
            return ReceptiveField(stride=1, size=max(self.spec.size), spatial=False)
        last = self.receptive_field(spatial[-1], probe_size)
        return ReceptiveField(
            stride=last.stride, size=last.size, clipped=last.clipped, spatial=False
        )

    def _vit_receptive_field(self, layer: str) -> ReceptiveField:
        """Patch-size stride; a token sees its patch before the first attention block and the
        whole image after it."""
        patch = self.module.patch_embed.patch_size
        patch = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
        before_attention = layer.startswith("patch_embed") or layer in (
            "pos_drop",
            "norm_pre",
            "patch_drop",
        )
        size = patch if before_attention else max(self.spec.size)
        return ReceptiveField(stride=patch, size=size, clipped=False, spatial=before_attention)

    @property
    def _shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every layer for one input of the working size (one forward)."""
        return self._measured(("shapes", self.spec.size), self._trace_shapes)

    def _trace_shapes(self) -> dict[str, tuple[int, ...]]:
        with self.capture(self.layer_names, stop=False) as store, torch.no_grad():
            self.module(torch.zeros(1, 3, *self.spec.size, device=self.device))
            return {n: tuple(t.shape) for n, t in store.items() if isinstance(t, torch.Tensor)}

    def output_shapes(self, layers: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]:
        """Output shape of every (or each given) layer for one input of the working size."""
        shapes = self._shapes
        if layers is None:
            return dict(shapes)
        for n in layers:
            self.resolve(n)
        return {n: shapes[n] for n in layers if n in shapes}

    def with_input_size(self, size: int | tuple[int, int] | None) -> VisionModel:
        """Use another working image size (e.g. small sizes in tests)."""
        if size:
            h, w = (size, size) if isinstance(size, int) else size
            self.spec = InputSpec(
                (int(h), int(w)),
                self.spec.mean,
                self.spec.std,
                self.spec.interpolation,
                self.spec.crop_pct,
            )
        return self
