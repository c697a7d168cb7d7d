"""Texture and style: Gram matrices (Gatys et al. 2015), content + style perceptual losses
(Gatys et al. 2016) and a feed-forward transformation network (Johnson et al. 2016)."""

from vizlab.style.gram import gram_loss, gram_matrix
from vizlab.style.perceptual import PerceptualLoss, total_variation
from vizlab.style.source import image_tensor, load_image
from vizlab.style.transformer_net import TransformerNet, load_transformer, save_transformer

__all__ = [
    "PerceptualLoss",
    "TransformerNet",
    "gram_loss",
    "gram_matrix",
    "image_tensor",
    "load_image",
    "load_transformer",
    "save_transformer",
    "total_variation",
]
