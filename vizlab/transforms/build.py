"""Build the transform stack from the ``transforms`` config (or its typed entries).

Built-in types are the input transforms of spatial.py and the post-step hooks of
step_hooks.py; a type registered by a plugin under the ``vizlab.transforms`` entry-point
group is built by its factory from its options. A plugin object with a true ``hook``
attribute is a post-step hook ``(step, x, grad) -> x | None``; any other is an input
transform ``(x, generators) -> x`` on paper-unit images.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from vizlab.transforms.schema import TransformEntry, validate_transforms
from vizlab.transforms.stack import HOOKS, TRANSFORMS, TransformStack


def build_stack(cfg: Any) -> TransformStack:
    """The stack for a ``transforms`` node, a plain dict, or the entries of
    :func:`validate_transforms` (None or empty: no transforms)."""
    from vizlab import registry

    if isinstance(cfg, dict) and all(isinstance(v, TransformEntry) for v in cfg.values()):
        entries = cfg
    else:
        entries = validate_transforms(cfg)
    stack = TransformStack()
    for entry in entries.values():
        if not entry.enabled:
            continue
        if entry.plugin:
            item = registry.load_entry("vizlab.transforms", entry.type)(entry.options)
            (stack.hooks if getattr(item, "hook", False) else stack.transforms).append(item)
            continue
        params = {k: v for k, v in asdict(entry.options).items() if k != "enabled"}
        if entry.type in TRANSFORMS:
            stack.transforms.append(TRANSFORMS[entry.type](**params))
        else:
            stack.hooks.append(HOOKS[entry.type](**params))
    return stack
