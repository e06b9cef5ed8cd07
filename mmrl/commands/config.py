"""``mmrl config show [CONFIG] [a.b=c ...]``: print the resolved configuration."""

from __future__ import annotations

import argparse

from mmrl.config import config_to_yaml, load_config


def split_config_and_overrides(items: list[str]) -> tuple[str | None, list[str]]:
    """``["cfg.yaml", "a.b=1"]`` -> ``("cfg.yaml", ["a.b=1"])``; the file is optional."""
    if items and "=" not in items[0]:
        return items[0], list(items[1:])
    return None, list(items)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="show the resolved configuration and every option")
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show",
        usage="mmrl config show [-h] [--docs] [CONFIG] [a.b=c ...]",
        help="print the resolved config (defaults <- CONFIG <- overrides), or the validation error (exit 2)",
        description="Print the resolved config: defaults, then CONFIG (YAML), then a.b=c overrides.",
    )
    show.add_argument("items", nargs="*", metavar="[CONFIG] [a.b=c ...]", help="YAML file, then overrides")
    show.add_argument("--docs", action="store_true", help="print each field's one-line doc above it")
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    path, overrides = split_config_and_overrides(args.items)
    cfg = load_config(path, overrides)
    print(config_to_yaml(cfg, docs=args.docs), end="")
    return 0
