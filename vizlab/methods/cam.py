"""Class activation maps as method plugins: ``cam`` (Zhou et al. 2016), ``gradcam`` and
``guided_gradcam`` (Selvaraju et al. 2017), for CNNs and (Grad-CAM) ViTs. The layer defaults
to the final feature map of a CNN and to ``blocks.{L-1}.norm1`` of a ViT
(see :func:`vizlab.attribution.layers.default_cam_layer`); ``method.layer`` overrides it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from vizlab.attribution import CAM as CAMAttribution
from vizlab.attribution import GradCAM as GradCAMAttribution
from vizlab.attribution import GuidedBackprop
from vizlab.attribution.cam import upsample
from vizlab.attribution.display import gradient_image, normalize, overlay
from vizlab.attribution.explain import Explained, cam_layer
from vizlab.attribution.layers import final_feature_layer
from vizlab.errors import VizlabError
from vizlab.methods.attribution_options import check_class_index, explained
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid, labelled_grid


@dataclass
class CAMOptions:
    name: str
    class_index: int | None
    layer: str | None  # a module path; None: the default CAM layer
    seed: int

    def __post_init__(self) -> None:
        check_class_index(self.class_index)


class _CAMMethod(Method):
    """Shared run(): explained score, layer, maps, figure; variants override :meth:`maps`."""

    allow_units: ClassVar[bool] = True
    Options = CAMOptions

    def run(self, ctx: RunContext) -> Result:
        ex = explained(ctx, ctx.options.class_index, allow_units=self.allow_units)
        target_layer = None
        if not ex.is_class:  # the CAM layer must run before the explained unit
            target_layer = ctx.model.deepest(list(ctx.target.objective.layers))
        layer = self.layer(ctx, target_layer)
        start = time.perf_counter()
        raw, metrics = self.maps(ctx, ex, layer)
        seconds = time.perf_counter() - start
        if not bool((raw != 0).any()):
            raise VizlabError(
                f"The {self.name} map at method.layer='{layer}' is zero everywhere: the explained "
                "score does not depend on that layer's spatial positions (with a class-token ViT "
                "head the last block's patch tokens get no gradient). Pick an earlier layer, "
                "e.g. blocks.<last>.norm1 for ViTs."
            )
        heat = normalize(upsample(raw.clamp(min=0), tuple(ex.inputs.shape[-2:]))[:, 0], 100.0)
        metrics = {
            **ex.metrics,
            "layer": layer,
            "map_size": "x".join(str(s) for s in raw.shape[-2:]),
            f"{self.name}_seconds": seconds,
            **metrics,
        }
        return self.report(ctx, ex, raw, heat, metrics)

    def layer(self, ctx: RunContext, target_layer: str | None) -> str:
        return cam_layer(ctx.model, ctx.options.layer, target_layer)

    def maps(self, ctx: RunContext, ex: Explained, layer: str) -> tuple[Tensor, dict]:
        """Raw low-resolution maps (N x h x w) and metrics."""
        raise NotImplementedError

    def report(self, ctx, ex: Explained, raw: Tensor, heat: Tensor, metrics: dict) -> Result:
        over = overlay(ex.photos, heat)
        gray = heat.unsqueeze(1).expand(-1, 3, -1, -1)
        rows, labels = [], []
        for i, name in enumerate(ex.names):
            rows += [ex.photos[i].cpu(), gray[i], over[i]]
            labels += [f"{name}: {ex.labels[i]}"[:42], f"{self.name} {metrics['layer']}", "overlay"]
        n = len(ex.names)
        title = f"{self.name} of {ex.labels[0]} at {metrics['layer']} ({ctx.model.name})"
        return Result(
            images={f"{self.name}_heatmap": grid(gray, n), f"{self.name}_overlay": grid(over, n)},
            metrics=metrics,
            figures={self.name: labelled_grid(torch.stack(rows), labels, 3, title)},
            tensors={"map": raw.cpu(), "heatmap": heat},
        )


class CAM(_CAMMethod):
    name = "cam"
    description = "Class activation map: classifier weights on the final feature map (Zhou)"
    allow_units = False

    def layer(self, ctx: RunContext, target_layer: str | None) -> str:
        model = ctx.model
        classifier = model.module.get_classifier() if model.num_classes else None
        if model.is_vit or not isinstance(classifier, nn.Linear):
            raise VizlabError(
                f"method=cam needs a CNN that ends in global average pooling + one linear layer; "
                f"{model.name} does not ({'a ViT' if model.is_vit else 'no linear classifier'}). "
                "Use method=gradcam, which works on any layer of CNNs and ViTs."
            )
        final = final_feature_layer(model.module, model.spec.size)
        chosen = ctx.options.layer
        if chosen is not None and str(chosen) != final:
            raise VizlabError(
                f"method=cam works only on the feature map pooled into the classifier, which is "
                f"'{final}' for {model.name}, not method.layer='{chosen}'. Leave method.layer "
                "unset, or use method=gradcam for other layers."
            )
        return final

    def maps(self, ctx: RunContext, ex: Explained, layer: str) -> tuple[Tensor, dict]:
        model = ctx.model
        classifier = model.module.get_classifier()
        with CAMAttribution(model.module, model.resolve(layer), classifier, ex.forward) as cam:
            raw, scores = cam.maps(ex.inputs, ex.target)
        # Zhou et al. Eq. 2: S_c = mean_xy M_c(x, y) + b_c if the head is GAP + linear.
        bias = classifier.bias[ex.target].detach() if classifier.bias is not None else 0.0
        error = (raw.flatten(1).mean(1) + bias - scores).abs() / scores.abs().clamp_min(1e-6)
        if float(error.max()) > 1e-3:
            raise VizlabError(
                f"method=cam: the class score of {model.name} is not the spatial mean of the CAM "
                f"plus bias (relative error {float(error.max()):.2g}), so its head is not global "
                "average pooling + linear. Use method=gradcam."
            )
        return raw, {"cam_identity_rel_error": float(error.max())}


class GradCAM(_CAMMethod):
    name = "gradcam"
    description = "Grad-CAM: gradient-weighted feature maps of any CNN or ViT layer (Selvaraju)"

    def maps(self, ctx: RunContext, ex: Explained, layer: str) -> tuple[Tensor, dict]:
        model = ctx.model
        try:
            with GradCAMAttribution(model.module, model.resolve(layer), ex.forward) as cam:
                raw, _ = cam.maps(ex.inputs, ex.target)
        except ValueError as err:
            raise VizlabError(f"method={self.name} method.layer='{layer}': {err}.") from err
        return raw, {}


class GuidedGradCAM(GradCAM):
    name = "guided_gradcam"
    description = "Guided Grad-CAM: guided backprop times the upsampled Grad-CAM (Selvaraju)"

    def report(self, ctx, ex: Explained, raw: Tensor, heat: Tensor, metrics: dict) -> Result:
        start = time.perf_counter()
        method = GuidedBackprop(ctx.model.module, ex.forward)
        try:
            guided = method.attribute(ex.inputs, ex.target).detach()
        except ValueError as err:
            raise VizlabError(f"method={self.name}: {err}.") from err
        combined = guided * heat.to(guided).unsqueeze(1)
        metrics["guided_backprop_seconds"] = time.perf_counter() - start
        metrics["guided_backprop_modules"] = len(method.guided_modules)
        over = overlay(ex.photos, heat)
        guided_rgb, combined_rgb = gradient_image(guided), gradient_image(combined)
        rows, labels = [], []
        for i, name in enumerate(ex.names):
            rows += [ex.photos[i].cpu(), over[i], guided_rgb[i], combined_rgb[i]]
            labels += [
                f"{name}: {ex.labels[i]}"[:42],
                f"Grad-CAM {metrics['layer']}",
                "guided backprop",
                "guided Grad-CAM",
            ]
        n = len(ex.names)
        title = f"Guided Grad-CAM of {ex.labels[0]} at {metrics['layer']} ({ctx.model.name})"
        return Result(
            images={
                "gradcam_overlay": grid(over, n),
                "guided_backprop": grid(guided_rgb, n),
                "guided_gradcam": grid(combined_rgb, n),
            },
            metrics=metrics,
            figures={self.name: labelled_grid(torch.stack(rows), labels, 4, title)},
            tensors={"map": raw.cpu(), "guided_gradcam": combined.cpu()},
        )
