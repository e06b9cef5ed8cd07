"""The ``mmrl`` command line.

Each subcommand lives in its own module under ``mmrl/commands/`` and exposes
``add_parser(subparsers)``, which registers the parser and sets ``func(args) -> int``.
Adding a subcommand means writing that module and adding its name to ``COMMANDS`` below;
nothing else changes. Command modules import heavy libraries (torch, transformers) inside
``func`` so that ``mmrl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mmrl import __version__
from mmrl.config import ConfigError
from mmrl.errors import UserError

#: Subcommand modules in ``mmrl.commands``, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("config", "models", "data", "verify", "eval", "train", "demo", "view")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmrl",
        description=(
            "Reinforcement learning with verifiable rewards for text LLMs and vision-language models "
            "(GRPO, Dr.GRPO, DAPO, RLOO, W-REINFORCE and A-GRAE)."
        ),
        epilog="Run `mmrl COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"mmrl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"mmrl.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides: list[str] | None = None
    if argv[:1] == ["eval"] and "compare" not in argv[1:2]:
        from mmrl.commands.eval import split_overrides

        argv, overrides = split_overrides(argv)
    args = parser.parse_args(argv)
    if overrides is not None:
        args.overrides = overrides
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"mmrl: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"mmrl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mmrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
