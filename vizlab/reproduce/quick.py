"""``--quick``: every experiment with tiny iteration counts and sizes on the tiny random
models, so a test can check in seconds that each config composes and runs end to end."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from omegaconf import DictConfig

from vizlab.reproduce.jobs import Grid, compose_config, parse_override, sweep_values

TINY = {"cnn": ("tiny_cnn", "test_efficientnet"), "vit": ("tiny_vit", "test_vit")}
HAND_MADE = ("hog", "hogb", "dsift")  # descriptor networks: already small, kept as they are


@cache
def module_names(timm_name: str) -> frozenset[str]:
    import timm

    return frozenset(name for name, _ in timm.create_model(timm_name).named_modules() if name)


def _family(cfg: DictConfig, axes: dict[str, list[str]]) -> str | None:
    models = axes.get("model", [str(cfg.model.name)])
    if all(m in HAND_MADE for m in models):
        return None
    names = " ".join([str(cfg.model.name), *models])
    return "vit" if "vit" in names else "cnn"


def _existing_layers(values: Sequence[str], names: frozenset[str]) -> list[str]:
    kept = [v for v in values if v in names or v == "output"]
    if not kept:
        kept = [max(n for n in names if n.count(".") == 1 and n.startswith("blocks."))]
    return [kept[0], kept[-1]] if len(kept) > 1 else kept


def quick_grid(grid: Grid, extra: Sequence[str] = ()) -> Grid:
    """The same experiment on a tiny model: 2 iterations, 32 px, two photos, two values of
    the first sweep axis and one of the others, layers the tiny model has; ``extra`` last."""
    base = compose_config(grid.overrides(grid.jobs()[0]))
    axes = dict(grid.axes)
    fixed = list(grid.fixed)
    family = _family(base, axes)
    method = base.method
    if "iterations" in method:
        fixed.append("method.iterations=2")
    if method.get("finetune_iterations"):
        fixed.append("method.finetune_iterations=1")
    if "steps" in method:
        fixed.append("method.steps=2")
    if int(method.get("num_inits") or 1) > 2:
        fixed.append("method.num_inits=2")
    if method.get("reference_set") == "photos":  # M over the job's own photos, not 50 crops
        fixed.append("method.reference_set=data")
    if method.get("transfer_models"):
        fixed.append("method.transfer_models=[]")
    if base.data.get("images") and len(base.data.images) > 2:
        fixed.append(f"data.images=[{','.join(list(base.data.images)[:2])}]")
    fixed.append("data.size=32" if family else "data.size=48")
    if family:
        group, timm_name = TINY[family]
        fixed.append(f"model={group}")
        axes.pop("model", None)
        names = module_names(timm_name)
        if "target.layer" in axes:
            axes["target.layer"] = _existing_layers(axes["target.layer"], names)
        elif str(base.target.layer) not in names and base.target.layer != "output":
            fixed.append(f"target.layer={_existing_layers([], names)[0]}")
    for i, key in enumerate(list(axes)):  # two cells along the first axis, one along the others
        axes[key] = axes[key][: 2 if i == 0 else 1]
    for override in extra:
        parsed = parse_override(override)
        if parsed.is_sweep_override():
            axes[parsed.get_key_element()] = sweep_values(parsed)
        else:
            fixed.append(override)
    return Grid(grid.name, fixed, list(axes.items()))
