"""The ``vizlab`` console script: ``vizlab methods`` and ``vizlab layers [overrides]``.

It composes the same Hydra config as ``run.py``, so ``vizlab layers model=efficientnet_lite1``
or ``vizlab layers model.name=resnet18 model.offline_weights=false`` work as they would there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vizlab.errors import VizlabError


def config_dir() -> Path:
    """The ``conf/`` folder: ``$VIZLAB_CONF`` or the one beside the vizlab package."""
    env = os.environ.get("VIZLAB_CONF")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "conf"
    if not (path / "config.yaml").is_file():
        raise VizlabError(
            f"Could not find vizlab's conf/ folder at '{path}'. Install vizlab from its "
            "repository with `pip install -e .`, or set VIZLAB_CONF=/path/to/conf."
        )
    return path


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            return hydra_compose("config", overrides=overrides)
    except HydraException as err:
        raise VizlabError(f"Bad override(s) {overrides}: {err}") from err


def cmd_methods(_args: argparse.Namespace) -> int:
    from vizlab.registry import loadable

    rows = loadable()
    width = max(len(n) for n in rows) if rows else 10
    print(f"{'method':<{width}}  {'package':<24} entry point / description")
    for name, info in rows.items():
        if isinstance(info, str):
            print(f"{name:<{width}}  {'(broken)':<24} {info}")
            continue
        from vizlab.registry import load

        desc = getattr(load(name), "description", "")
        print(f"{name:<{width}}  {info.package:<24} {info.target}  {desc}")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from vizlab.devices import resolve_device
    from vizlab.runner import load_model

    cfg = compose(args.overrides)
    model = load_model(cfg, resolve_device(cfg.get("device")))
    names = model.layer_names
    if not args.all:
        names = [n for n in names if n.count(".") < args.depth]
    shapes = model.output_shapes(names)
    h, w = model.spec.size
    print(f"{model.name}: input 3x{h}x{w}, mean {model.spec.mean}, std {model.spec.std}")
    print(f"{'layer':<34} {'output shape':<20} {'stride':>6} {'RF size':>8}")
    for name in names:
        if name not in shapes:
            continue
        shape = "x".join(str(s) for s in shapes[name][1:])
        if args.no_rf:
            print(f"{name:<34} {shape:<20}")
            continue
        rf = model.receptive_field(name)
        size = f"{rf.size}{'+' if rf.clipped else ''}" if rf.spatial else "global"
        print(f"{name:<34} {shape:<20} {rf.stride:>6} {size:>8}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vizlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_methods = sub.add_parser("methods", help="list registered methods and their packages")
    p_methods.set_defaults(func=cmd_methods)
    p_layers = sub.add_parser("layers", help="list a model's layers, shapes and receptive fields")
    p_layers.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. model=efficientnet_lite0"
    )
    p_layers.add_argument(
        "--all", action="store_true", help="every module, not just the top levels"
    )
    p_layers.add_argument(
        "--depth",
        type=int,
        default=2,
        help="show module paths with fewer than DEPTH dots (default 2)",
    )
    p_layers.add_argument("--no-rf", action="store_true", help="skip receptive fields (faster)")
    p_layers.set_defaults(func=cmd_layers)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except VizlabError as err:
        print(f"vizlab error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
