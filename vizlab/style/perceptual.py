"""Perceptual losses over a :class:`VisionModel`: the Gram style loss summed over chosen
layers (texture synthesis, Gatys et al. 2015) and the feature (content) loss of neural style
transfer (Gatys et al. 2016) and of fast style transfer (Johnson et al. 2016). The forward
pass stops at the deepest layer needed (``VisionModel.features``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vizlab.errors import VizlabError
from vizlab.models.wrapper import VisionModel
from vizlab.regularizers.penalties import TotalVariation
from vizlab.style.gram import gram_loss, gram_matrix


class PerceptualLoss:
    """Style targets (Gram matrices of a style image) and content targets, per layer.

    Images are N x 3 x H x W in [0, 1]; the model's normalization is applied inside.
    """

    def __init__(
        self,
        model: VisionModel,
        style_layers: Sequence[str],
        content_layers: Sequence[str] = (),
        style_weights: Sequence[float] | None = None,
    ):
        if not style_layers and not content_layers:
            raise VizlabError(
                "No layers given: set method.style_layers (and/or method.content_layers) to "
                "module names of the model, e.g. [blocks.0, blocks.1, blocks.2, blocks.3]."
            )
        for name in [*style_layers, *content_layers]:
            model.resolve(name)  # clear error with the nearest names
        self.model = model
        self.style_layers = list(style_layers)
        self.content_layers = list(content_layers)
        weights = list(style_weights) if style_weights else [1.0] * len(self.style_layers)
        if len(weights) != len(self.style_layers):
            raise VizlabError(
                f"method.style_weights has {len(weights)} entries but method.style_layers has "
                f"{len(self.style_layers)}; give one weight per style layer (or null for 1s)."
            )
        self.style_weights = weights
        self.layers = list(dict.fromkeys([*self.style_layers, *self.content_layers]))
        self.style_grams: dict[str, torch.Tensor] = {}

    def features(
        self, x: torch.Tensor, layers: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` (default: all needed) for unit-space images ``x`` (ViT:
        patch tokens only, the class/register tokens are dropped)."""
        feats = self.model.features(self.model.units.unit_to_model(x), layers or self.layers)
        prefix = int(getattr(self.model.module, "num_prefix_tokens", 0)) if self.model.is_vit else 0
        if prefix:
            feats = {n: f[:, prefix:] if f.ndim == 3 else f for n, f in feats.items()}
        return feats

    @torch.no_grad()
    def set_style(self, style: torch.Tensor) -> None:
        """Target Gram matrices of the style image(s) (averaged over the batch)."""
        feats = self.features(style, self.style_layers)
        self.style_grams = {
            n: gram_matrix(feats[n]).mean(0, keepdim=True) for n in self.style_layers
        }

    @torch.no_grad()
    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.features(content, self.content_layers)
        return {n: feats[n].detach() for n in self.content_layers}

    def style_terms(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-layer Gram loss w_l E_l (each per image)."""
        if not self.style_grams:
            raise RuntimeError("call set_style() before computing a style loss")
        return {
            n: w * gram_loss(gram_matrix(feats[n]), self.style_grams[n])
            for n, w in zip(self.style_layers, self.style_weights)
        }

    def style_loss(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """L_style = sum_l w_l E_l per image."""
        return torch.stack(list(self.style_terms(feats).values())).sum(0)

    def content_loss(
        self, feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """L_content = mean over elements of (Phi_l(x) - Phi_l(x_c))^2, summed over the
        content layers, per image (Gatys et al. 2016 Eq. 1, normalized by the layer size)."""
        terms = [(feats[n] - targets[n]).pow(2).flatten(1).mean(1) for n in self.content_layers]
        return torch.stack(terms).sum(0)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Squared total variation per image, averaged over pixels and channels: the TV^2 prior of
    Mahendran & Vedaldi (Sect. 3.2.2, :class:`vizlab.regularizers.penalties.TotalVariation`
    with beta = 2 and V^2 = the channel count) on [0, 1] images, the smoothness term of
    Johnson et al. 2016."""
    return TotalVariation(beta=2.0, V=x.shape[1] ** 0.5)(x)
