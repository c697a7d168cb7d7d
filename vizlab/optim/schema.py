"""Typed ``optimizer`` configs (also the ``param.optimizer`` node of spectral
parameterizations): Algorithm 1 of Mahendran & Vedaldi (Sect. 3.4) or Adam."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.schema import check_choice, check_positive, check_range, require, typed

LR_RULES = ("code", "paper")


@dataclass
class PreImageSGDOptions:
    """Algorithm 1: momentum ``rho`` in [0, 1); ``lr`` (eta_0) > 0, or null for ``lr_rule``."""

    name: str = "preimage_sgd"
    rho: float = 0.9
    lr_rule: str = "code"
    lr: float | None = None

    def __post_init__(self) -> None:
        check_range("rho", self.rho, 0.0, 1.0)
        require(self.rho < 1.0, "rho", self.rho, "must be in [0, 1) (a momentum)")
        check_choice("lr_rule", self.lr_rule, LR_RULES)
        if self.lr is not None:
            check_positive("lr", self.lr)


@dataclass
class AdamOptions:
    """Adam (Kingma & Ba 2015): ``lr`` > 0, ``betas`` two numbers in [0, 1)."""

    name: str = "adam"
    lr: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        require(len(self.betas) == 2, "betas", self.betas, "must be two numbers in [0, 1)")
        for b in self.betas:
            check_range("betas", b, 0.0, 1.0)
            require(b < 1.0, "betas", self.betas, "must be two numbers in [0, 1)")


SCHEMAS: dict[str, type] = {"preimage_sgd": PreImageSGDOptions, "adam": AdamOptions}


def validate_optimizer(node: Any, prefix: str = "optimizer") -> Any:
    """The typed optimizer config (:class:`PreImageSGDOptions` or :class:`AdamOptions`)."""
    if isinstance(node, (PreImageSGDOptions, AdamOptions)):
        return node
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict):
        raise VizlabError(
            f"{prefix}={node!r} is not an optimizer config; give e.g. {prefix}.name=adam "
            f"{prefix}.lr=0.05 (valid names: {format_choices(SCHEMAS)})."
        )
    name = data.get("name", "preimage_sgd")
    if name not in SCHEMAS:
        hint = nearest(str(name), list(SCHEMAS), n=1)
        raise VizlabError(
            f"Invalid value {prefix}.name={name!r}: not an optimizer. Valid: "
            f"{format_choices(SCHEMAS)}" + (f" (did you mean {hint[0]}?)" if hint else "") + "."
        )
    return typed(SCHEMAS[name], data, prefix)
