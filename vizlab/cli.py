"""The ``vizlab`` console command: ``run``, ``methods``, ``layers``, ``report``, ``reproduce``.

``vizlab run [overrides]`` is ``python run.py [overrides]`` from any folder (``-m`` sweeps
included); ``layers`` composes the same config, so ``vizlab layers model=efficientnet_lite1``
or ``vizlab layers model.name=resnet18 model.offline_weights=false`` work as they would there.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from vizlab.config import compose, config_dir
from vizlab.errors import VizlabError

__all__ = ["compose", "config_dir", "main"]


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
    mean, std = (", ".join(f"{v:.3f}" for v in t) for t in (model.spec.mean, model.spec.std))
    print(f"{model.name}: input 3x{h}x{w}, mean ({mean}), std ({std}) of [0, 1] pixels")
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


def cmd_run(argv: list[str]) -> int:
    """``python run.py ARGV`` with the packaged config: Hydra parses ``argv`` (overrides,
    ``-m``, ``--cfg job``, ``--help``) and writes into ``./outputs`` of the current folder."""
    import hydra

    from vizlab import command_process
    from vizlab.config import CONFIG_NAME
    from vizlab.runner import main_with_errors

    if not any(a.startswith("hydra.job.name=") for a in argv):
        argv = [*argv, "hydra.job.name=run"]  # the job name run.py gets (log file, W&B name)
    task = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=CONFIG_NAME)
    saved = sys.argv
    sys.argv = ["vizlab run", *argv]
    try:
        with command_process.prepared():
            task(main_with_errors)()
    finally:
        sys.argv = saved
    return 0


def _delegate(command: str, module_name: str) -> Callable[[list[str]], int]:
    """A subcommand implemented by ``module_name.main(argv)``, imported only when used."""

    def run(argv: list[str]) -> int:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is None or not module_name.startswith(err.name):
                raise  # a missing dependency of the module, not the module itself
            raise VizlabError(
                f"`vizlab {command}` needs the module {module_name}, which this installation "
                f"of vizlab does not have. Valid commands: {', '.join(COMMANDS)}. Upgrade "
                "vizlab (or reinstall it from its repository) to get it."
            ) from None
        return int(module.main(argv) or 0)

    return run


PASS_THROUGH: dict[str, Callable[[list[str]], int]] = {
    "run": cmd_run,
    "report": _delegate("report", "vizlab.report"),
    "reproduce": _delegate("reproduce", "vizlab.reproduce"),
}
COMMANDS = ["run", "methods", "layers", "report", "reproduce"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vizlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}"
    )
    sub.add_parser(
        "run",
        help="run a method: `vizlab run [-m] [overrides]`, as `python run.py` (Hydra's --help)",
    )
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
    sub.add_parser("report", help="write the report of a run or sweep folder: `vizlab report DIR`")
    sub.add_parser(
        "reproduce", help="reproduce the papers' figures: `vizlab reproduce [NAMES] [--quick]`"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in PASS_THROUGH:
            return PASS_THROUGH[argv[0]](argv[1:])
        args = _parser().parse_args(argv)
        return args.func(args)
    except VizlabError as err:
        print(f"vizlab error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
