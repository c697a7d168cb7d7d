"""Training of a feed-forward style network (Johnson et al. 2016, Sect. 3): Adam on the
perceptual loss alpha L_content(T(x), x) + beta L_style(T(x), s) + TV over random mini-batches
of photos, and one timed stylization pass."""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from vizlab.style.perceptual import PerceptualLoss, total_variation
from vizlab.style.transformer_net import TransformerNet


def train_transformer(
    net: TransformerNet,
    loss: PerceptualLoss,
    images: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    content_weight: float,
    style_weight: float,
    tv_weight: float,
    generator: torch.Generator,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Adam on the perceptual loss over random mini-batches (with horizontal flips) of
    ``images``; returns the per-step loss terms."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    history: dict[str, list[float]] = {}
    net.train()
    for _ in tqdm(range(steps), desc="fast style training", disable=not progress, leave=False):
        idx = torch.randint(len(images), (batch_size,), generator=generator)
        batch = images[idx]
        flip = torch.rand(batch_size, generator=generator) < 0.5
        batch = torch.where(flip.view(-1, 1, 1, 1).to(batch.device), batch.flip(-1), batch)
        targets = loss.content_targets(batch)
        out = net(batch)
        feats = loss.features(out)
        terms = {
            "content": content_weight * loss.content_loss(feats, targets).mean(),
            "style": style_weight * loss.style_loss(feats).mean(),
            "tv": tv_weight * total_variation(out).mean(),
        }
        total = terms["content"] + terms["style"] + terms["tv"]
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        terms["total"] = total
        for name, value in terms.items():
            history.setdefault(name, []).append(float(value.detach()))
    net.eval()
    return history


@torch.no_grad()
def stylize_timed(net: TransformerNet, images: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Each image (N x 3 x H x W) through ``net`` once, one at a time, with each pass's time
    in seconds (the caller reports their median; comparisons over repeats and batch sizes
    belong in a benchmark)."""
    out, times = [], []
    for i in range(len(images)):
        start = time.perf_counter()
        out.append(net(images[i : i + 1]))
        times.append(time.perf_counter() - start)
    return torch.cat(out), times
