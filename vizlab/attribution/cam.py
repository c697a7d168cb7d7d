"""Class activation maps, pytorch-grad-cam style: one base class owns the forward hook on the
target layer (registered in a ``with`` block, always removed) and computes

    M = sum_k alpha_k A^k          (A = the layer's feature maps, N x K x h x w)

while each variant only says how the channel weights alpha are found:

* :class:`CAM` (Zhou et al. 2016, "Learning deep features for discriminative localization",
  Eq. 1-2): alpha_k = w_k^c, the classifier weights, for networks ending in global average
  pooling + one linear layer; then S_c = mean_xy M_c(x, y) + b_c exactly.
* :class:`GradCAM` (Selvaraju et al. 2017, Eq. 1-2): alpha_k = mean_ij dS_c/dA^k_ij, map
  ReLU(M). For a GAP + linear head at the final feature map, Grad-CAM = ReLU(CAM) / (h w).
* :class:`GuidedGradCAM` (Selvaraju et al. Sect. 3.1): guided backprop times the upsampled
  Grad-CAM.

ViT layers give tokens (N x T x D); they are laid on the patch grid with
:func:`vizlab.attribution.layers.tokens_to_grid` from timm's own ``num_prefix_tokens`` and
patch-embedding grid -- no user reshape function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vizlab.attribution.base import Attribution, ForwardFunc, Target, select_target
from vizlab.attribution.guided import GuidedBackprop
from vizlab.attribution.layers import as_feature_map


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """N x h x w -> N x 1 x H x W, bilinear with half-pixel centres (like cv2.resize)."""
    return F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False)


class BaseCAM(Attribution):
    """A layer's feature maps weighted per channel; use inside ``with Variant(...) as cam``."""

    uses_gradients = True

    def __init__(self, model: nn.Module, layer: nn.Module, forward_func: ForwardFunc | None = None):
        super().__init__(forward_func or model)
        self.model, self.layer = model, layer
        self._handle = None
        self._activation: Tensor | None = None

    # ----- hook lifetime -----------------------------------------------------------------
    def __enter__(self) -> BaseCAM:
        self._handle = self.layer.register_forward_hook(self._save)
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        if self._handle is not None:
            self._handle.remove()
        self._handle, self._activation = None, None

    def _save(self, _module, _inputs, output) -> None:
        self._activation = output[0] if isinstance(output, (tuple, list)) else output

    # ----- the variant's one job -------------------------------------------------------
    def weights(self, activations: Tensor, grads: Tensor | None, target: Target) -> Tensor:
        """Channel weights alpha, N x K."""
        raise NotImplementedError

    # ----- maps ------------------------------------------------------------------------
    def maps(self, inputs: Tensor, target: Target = None) -> tuple[Tensor, Tensor]:
        """Raw maps sum_k alpha_k A^k (N x h x w, before ReLU) and the explained scores."""
        if self._handle is None:
            raise RuntimeError(f"use {type(self).__name__} inside a `with` block")
        self._activation = None
        with torch.set_grad_enabled(self.uses_gradients):
            # an input that requires grad builds the graph even if the model is frozen
            x = inputs.detach().requires_grad_(self.uses_gradients)
            scores = select_target(self.forward_func(x), target)
            act = self._activation
            if act is None:
                raise ValueError(
                    "the CAM layer did not run before the explained score was computed; "
                    "choose a layer that comes before the target"
                )
            grads = None
            if self.uses_gradients:
                (grads,) = torch.autograd.grad(scores.sum(), act)
        size = tuple(inputs.shape[-2:])
        fmap = as_feature_map(act.detach(), self.model, size)
        gmap = as_feature_map(grads, self.model, size) if grads is not None else None
        alpha = self.weights(fmap, gmap, target)
        self._activation = None
        return (alpha[:, :, None, None] * fmap).sum(1), scores.detach()

    def attribute(
        self, inputs: Tensor, target: Target = None, relu: bool = True, resize: bool = True
    ) -> Tensor:
        """N x 1 x H x W maps (ReLU'd and upsampled to the input size by default)."""
        maps, _ = self.maps(inputs, target)
        if relu:
            maps = maps.clamp(min=0)
        return upsample(maps, tuple(inputs.shape[-2:])) if resize else maps.unsqueeze(1)


class CAM(BaseCAM):
    """alpha = the classifier's weights for the class (no gradients needed)."""

    uses_gradients = False

    def __init__(
        self,
        model: nn.Module,
        layer: nn.Module,
        classifier: nn.Linear,
        forward_func: ForwardFunc | None = None,
    ):
        super().__init__(model, layer, forward_func)
        self.classifier = classifier

    def weights(self, activations: Tensor, grads: Tensor | None, target: Target) -> Tensor:
        if target is None:
            raise ValueError("CAM explains a class: give a class index as target")
        w = self.classifier.weight.detach()
        if w.shape[1] != activations.shape[1]:
            raise ValueError(
                f"the classifier takes {w.shape[1]} features but the CAM layer has "
                f"{activations.shape[1]} channels; CAM needs the map that is pooled into it"
            )
        index = torch.as_tensor(target, device=w.device).long().flatten()
        return w[index.expand(activations.shape[0]) if index.numel() == 1 else index]


class GradCAM(BaseCAM):
    """alpha = spatial mean of the score's gradient with respect to the feature maps."""

    def weights(self, activations: Tensor, grads: Tensor | None, target: Target) -> Tensor:
        assert grads is not None
        return grads.mean((2, 3))


class GuidedGradCAM(Attribution):
    """Guided backprop (N x C x H x W) times the upsampled Grad-CAM scaled to max 1."""

    def __init__(self, model: nn.Module, layer: nn.Module, forward_func: ForwardFunc | None = None):
        super().__init__(forward_func or model)
        self.model, self.layer = model, layer

    def attribute(self, inputs: Tensor, target: Target = None) -> Tensor:
        with GradCAM(self.model, self.layer, self.forward_func) as gradcam:
            cam = gradcam.attribute(inputs, target)
        peak = cam.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        guided = GuidedBackprop(self.model, self.forward_func).attribute(inputs, target)
        return guided * (cam / peak)
