"""The regularizer stack built from the ``regularizers`` config group.

Each entry is its own config node with a ``weight``; entries are added or removed on the
command line (``~regularizers.tv``, ``+regularizers.l2.weight=0.1``). ``jitter`` is an entry
too (an implicit regularizer, Sect. 3.2.3); ``T: auto`` takes T = max(1, round(stride/4)) from
the receptive field of the target layer (Sect. 5.2.1). Penalties registered by plugins under
the ``vizlab.regularizers`` entry-point group are built by their factory from their options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from vizlab.regularizers.jitter import Jitter
from vizlab.regularizers.penalties import PENALTIES
from vizlab.regularizers.schema import (
    AlphaNormOptions,
    JitterOptions,
    PluginPenalty,
    validate_regularizers,
)

Penalty = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class RegularizerStack:
    """Weighted penalties (on paper-unit images) plus the jitter transform, if any.

    ``B`` and ``alpha`` are the alpha-norm's constants (Eq. 5; the paper's 80 and 6 without
    an alpha-norm entry): Algorithm 1's learning rate and the pixel bound B+ = 2 B use them."""

    penalties: list[tuple[str, float, Penalty]] = field(default_factory=list)
    jitter_T: int | str | None = None
    B: float = 80.0
    alpha: float = 6.0

    def __call__(self, x_paper: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total weighted penalty per image and each term's unweighted value (attached to
        the graph; callers detach what they log)."""
        total: torch.Tensor | None = None
        terms: dict[str, torch.Tensor] = {}
        for name, weight, penalty in self.penalties:
            value = penalty(x_paper)
            terms[name] = value
            weighted = value if weight == 1.0 else weight * value  # the same numbers
            total = weighted if total is None else total + weighted
        if total is None:
            total = x_paper.new_zeros(x_paper.shape[0])
        return total, terms

    @property
    def fused(self) -> bool:
        """Whether every penalty gives its value and gradient without autograd
        (``with_grad``, as the built-in ones do); see :meth:`with_grad`."""
        return all(callable(getattr(p, "with_grad", None)) for _, _, p in self.penalties)

    @torch.no_grad()
    def with_grad(
        self, x_paper: torch.Tensor, grad: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
        """As :meth:`__call__` (total and terms, the same numbers, no graph) and ``grad`` +
        the total's gradient w.r.t. ``x_paper``, each penalty adding its own in place (a new
        buffer when ``grad`` is None; None without penalties). The engine adds it to the
        data term's gradient, so the penalties put no nodes in the graph and no zero-filled
        gradients; only for stacks whose penalties are all :attr:`fused`."""
        total: torch.Tensor | None = None
        terms: dict[str, torch.Tensor] = {}
        for name, weight, penalty in self.penalties:
            value, grad = penalty.with_grad(x_paper, weight, grad)  # type: ignore[attr-defined]
            terms[name] = value
            weighted = value if weight == 1.0 else weight * value
            total = weighted if total is None else total + weighted
        if total is None:
            total = x_paper.new_zeros(x_paper.shape[0])
        return total, terms, grad

    def jitter(self, stride: int) -> Jitter:
        """The jitter transform for a representation of the given receptive-field stride."""
        if self.jitter_T is None:
            return Jitter(1)
        if self.jitter_T == "auto":
            return Jitter(max(1, round(stride / 4)))
        return Jitter(int(self.jitter_T))

    def with_penalty(self, name: str, weight: float, penalty: Penalty) -> RegularizerStack:
        """A copy with one more weighted penalty (this stack is left unchanged)."""
        return replace(self, penalties=[*self.penalties, (name, float(weight), penalty)])

    def names(self) -> list[str]:
        return [name for name, _, _ in self.penalties]


def build_regularizers(cfg: Any) -> RegularizerStack:
    """The stack for a ``regularizers`` config (a node, a plain dict, or the typed entries of
    :func:`validate_regularizers`); None or empty: no penalties and no jitter."""
    from vizlab import registry

    entries = cfg if _is_typed(cfg) else validate_regularizers(cfg)
    stack = RegularizerStack()
    for name, entry in entries.items():
        if isinstance(entry, AlphaNormOptions):  # its constants hold even when disabled
            stack.B, stack.alpha = float(entry.B), float(entry.alpha)
        if not entry.enabled:
            continue
        if isinstance(entry, JitterOptions):
            stack.jitter_T = entry.T
            continue
        if isinstance(entry, PluginPenalty):
            factory = registry.load_entry("vizlab.regularizers", entry.name)
            stack.penalties.append((name, entry.weight, factory(entry.options)))
            continue
        params = {k: v for k, v in vars(entry).items() if k not in ("weight", "enabled")}
        kind = next(k for k, cls in PENALTY_OPTIONS.items() if isinstance(entry, cls))
        stack.penalties.append((name, float(entry.weight), PENALTIES[kind](**params)))
    return stack


def _is_typed(cfg: Any) -> bool:
    return isinstance(cfg, dict) and all(
        isinstance(v, (*PENALTY_OPTIONS.values(), JitterOptions, PluginPenalty))
        for v in cfg.values()
    )


def _penalty_options() -> dict[str, type]:
    from vizlab.regularizers.schema import SCHEMAS

    return {k: v for k, v in SCHEMAS.items() if k in PENALTIES}


PENALTY_OPTIONS = _penalty_options()
