"""Token selection for ViT targets.

A timm ViT's block outputs are N x T x D token tensors: ``num_prefix_tokens`` prefix tokens
(CLS first, then any register tokens) followed by the patch tokens in row-major order over the
patch grid. The grid and the prefix count are read from timm (``patch_embed.grid_size`` or
``patch_embed.dynamic_feat_size`` for the working image size, ``num_prefix_tokens``), never
from the user. The AM paper's ViT target hidden_states[layer][:, :, idx] aggregates one hidden
dimension over ``all`` tokens; ``cls``, ``patch_mean``, ``center`` or one patch position
(``[row, col]`` or a row-major patch index) select other tokens.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from omegaconf import ListConfig

from vizlab.errors import VizlabError

TokenSelection = str | int | tuple[int, int]
NAMED_SELECTIONS = ("all", "cls", "patch_mean", "center")


def parse_tokens(value: object) -> TokenSelection:
    """``target.tokens``: a name, a patch index, or a [row, col] patch position."""
    if value is None:
        return "all"
    if isinstance(value, str):
        if value in NAMED_SELECTIONS:
            return value
        parts = value.replace(",", " ").split()
        if len(parts) in (1, 2) and all(p.lstrip("-").isdigit() for p in parts):
            return int(parts[0]) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return value
    elif isinstance(value, (list, tuple, ListConfig)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise VizlabError(
        f"target.tokens={value!r} is not a token selection. Valid: all (mean over every token, "
        "the AM paper's choice), cls, patch_mean, center, a patch index 0..P-1 (row-major), or a "
        "patch position [row, col]."
    )


@dataclass(frozen=True)
class TokenLayout:
    """Where the tokens of a timm ViT are: prefix tokens, then a ``grid`` of patch tokens."""

    num_prefix: int
    has_cls: bool
    grid: tuple[int, int]

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def num_tokens(self) -> int:
        return self.num_prefix + self.num_patches

    @classmethod
    def from_model(cls, model) -> TokenLayout:
        """The layout of ``model`` (a VisionModel) at its working image size."""
        module = model.module
        if not model.is_vit:
            raise VizlabError(
                f"{model.name} is not a Vision Transformer (no patch_embed / num_prefix_tokens), "
                "so it has no tokens. Use target=channel or target=neuron on a CNN layer."
            )
        embed = module.patch_embed
        if getattr(module, "dynamic_img_size", False) and hasattr(embed, "dynamic_feat_size"):
            grid = embed.dynamic_feat_size(tuple(model.spec.size))
        else:
            grid = embed.grid_size
        has_cls = getattr(module, "cls_token", None) is not None
        return cls(int(module.num_prefix_tokens), has_cls, (int(grid[0]), int(grid[1])))

    def prefix_of(self, num_tokens: int, layer: str = "layer") -> int:
        """Prefix tokens in a tensor of ``num_tokens`` tokens: all of them once the position
        embedding added them, none before (e.g. the flattened patch embedding)."""
        if num_tokens == self.num_tokens:
            return self.num_prefix
        if num_tokens == self.num_patches:
            return 0
        raise VizlabError(
            f"'{layer}' has {num_tokens} tokens, but the model's token layout at this image size "
            f"is {self.num_prefix} prefix + {self.grid[0]}x{self.grid[1]} patch tokens "
            f"({self.num_tokens}). Pick a block output such as blocks.3 or blocks.3.mlp.fc1."
        )

    def weights(
        self,
        selection: TokenSelection,
        num_tokens: int,
        layer: str = "layer",
        like: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """A length-T weight vector (summing to 1) that averages the selected tokens, on
        ``like``'s device and dtype (default: float32 on the host). Made there once per
        selection, device and dtype: a host vector would be copied to a GPU every step."""
        device = like.device if like is not None else torch.device("cpu")
        dtype = like.dtype if like is not None else torch.float32
        return _token_weights(self, selection, num_tokens, layer, device, dtype)

    def patch_index(self, selection: TokenSelection) -> int:
        """Row-major index among the patch tokens of ``center``, an index or (row, col)."""
        gh, gw = self.grid
        if selection == "center":
            return ((gh - 1) // 2) * gw + (gw - 1) // 2
        if isinstance(selection, int):
            if not 0 <= selection < self.num_patches:
                raise VizlabError(
                    f"Patch index {selection} is out of range: the patch grid is {gh}x{gw}, so "
                    f"valid indices are 0..{self.num_patches - 1} (row-major)."
                )
            return selection
        row, col = selection  # type: ignore[misc]
        if not (0 <= row < gh and 0 <= col < gw):
            raise VizlabError(
                f"Patch position [{row}, {col}] is outside the {gh}x{gw} patch grid; valid rows "
                f"are 0..{gh - 1} and columns 0..{gw - 1}."
            )
        return row * gw + col


def select_tokens(
    act: torch.Tensor, layout: TokenLayout, selection: TokenSelection, layer: str = "layer"
) -> torch.Tensor:
    """N x T x D token activations -> N x D, averaged over the selected tokens."""
    w = layout.weights(selection, act.shape[1], layer, like=act)
    return torch.einsum("ntd,t->nd", act, w)


@functools.lru_cache(maxsize=64)
def _token_weights(
    layout: TokenLayout,
    selection: TokenSelection,
    num_tokens: int,
    layer: str,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """:meth:`TokenLayout.weights`, made once per argument tuple (read-only; a normal tensor
    even when first asked for under ``torch.inference_mode``, so autograd may save it)."""
    with torch.inference_mode(False):
        prefix = layout.prefix_of(num_tokens, layer)
        w = torch.zeros(num_tokens, device=device)
        if selection == "all":
            w[:] = 1.0
        elif selection == "cls":
            if not (layout.has_cls and prefix):
                raise VizlabError(
                    f"target.tokens=cls: '{layer}' has no CLS token (the model has "
                    f"{'no class token' if not layout.has_cls else 'none before pos_embed'}). "
                    "Use all, patch_mean, center or a patch position."
                )
            w[0] = 1.0
        elif selection == "patch_mean":
            w[prefix:] = 1.0
        else:
            w[prefix + layout.patch_index(selection)] = 1.0
        return (w / w.sum()).to(dtype)


def as_token_tensor(act: torch.Tensor, layer: str = "layer") -> torch.Tensor:
    """A token tensor N x T x D (NHWC patch-embedding outputs are flattened to N x HW x D)."""
    if act.dim() == 3:
        return act
    if act.dim() == 4:
        return act.flatten(1, 2)
    raise VizlabError(f"'{layer}' outputs shape {tuple(act.shape)}, not tokens (N x T x D).")


def describe(selection: TokenSelection) -> str:
    """A short label for a token selection (for plot titles)."""
    if isinstance(selection, tuple):
        return f"patch[{selection[0]},{selection[1]}]"
    return f"patch {selection}" if isinstance(selection, int) else str(selection)
