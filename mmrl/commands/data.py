"""``mmrl data list | show | validate``: look at datasets before training on them.

``show`` and ``validate`` take a recipe, then optionally a YAML config and ``a.b=c`` overrides
(``data.path=/data/geometry3k``, ``data.options.difficulty=2``, ...), resolved like ``mmrl train``.
``validate`` reads every row, prints the report table and exits 1 when any row is bad.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from mmrl.commands.config import split_config_and_overrides


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="list, show and validate datasets (recipes)")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    lister = sub.add_parser("list", help="list recipes (splits, verifiers, templates, source)")
    lister.set_defaults(func=run_list)

    for name, helptext, func in (
        ("show", "print a few examples as the model will see them", run_show),
        ("validate", "check every row; print the report; exit 1 when any row is bad", run_validate),
    ):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("recipe", help="a recipe name (`mmrl data list`), pkg.module:NAME or file.py:NAME")
        p.add_argument("items", nargs="*", metavar="[CONFIG] [a.b=c ...]", help="YAML file, then overrides")
        p.add_argument(
            "--split",
            help="split to read (default: data.split if the recipe has that split, else the recipe's first)",
        )
        if name == "show":
            p.add_argument("--n", type=int, default=3, help="how many examples (default 3)")
            p.add_argument(
                "--save-images", metavar="DIR", help="also write each example's images as PNG here"
            )
        p.set_defaults(func=func)


def _resolve(args: argparse.Namespace) -> tuple[Any, str]:
    from mmrl.config import load_config
    from mmrl.data import get_recipe

    path, overrides = split_config_and_overrides(args.items)
    cfg = load_config(path, [f"data.recipe={args.recipe}", *overrides])
    recipe = get_recipe(cfg.data.recipe)
    split = args.split
    if split is None:
        usable = not recipe.splits or cfg.data.split in recipe.splits
        split = cfg.data.split if usable else recipe.default_split
    return cfg, split


def run_list(args: argparse.Namespace) -> int:
    from mmrl.data import list_recipes, list_templates

    rows = [("recipe", "kind", "splits", "verifiers", "template", "source")]
    for r in list_recipes():
        if r.generate is not None:
            source = "generated offline"
        elif r.hub_id:
            source = r.hub_id
        else:
            source = "data.path (your files)"
        rows.append((r.name, r.modality, ",".join(r.splits) or "any", ",".join(r.tasks), r.template, source))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"\ntemplates (data.template): {', '.join(list_templates())}, or a path to a .jinja file")
    print("Hub recipes also load data.path=DIR|FILE.parquet|FILE.jsonl with the same schema.")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from mmrl.data import load_examples

    if args.n < 1:
        print("mmrl data show: --n must be >= 1")
        return 2
    cfg, split = _resolve(args)
    d = cfg.data
    limit = args.n if d.limit is None else min(args.n, d.limit)
    loaded = load_examples(
        d.recipe,
        split=split,
        path=d.path,
        options=d.options,
        template=d.template,
        columns=d.columns,
        limit=limit,
        on_bad_row=d.on_bad_row,
        max_bad_fraction=d.max_bad_fraction,
        allow_remote_images=d.allow_remote_images,
        image_root=d.image_root,
        allow_outside_paths=d.allow_outside_paths,
        max_image_bytes=d.max_image_bytes,
    )
    out_dir = Path(args.save_images) if args.save_images else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{loaded.recipe.name} [{split}], template {loaded.template}, from {loaded.report.source}\n")
    for k, ex in enumerate(loaded, start=1):
        print(f"[{k}] {ex.id}  task={ex.task}  answer={ex.answer!r}")
        if ex.choices:
            print(f"    choices: {list(ex.choices)}")
        shown_meta = {key: v for key, v in ex.meta.items() if key not in ("image_refs",)}
        print(f"    meta: {shown_meta}")
        for i, img in enumerate(ex.images):
            saved = ""
            if out_dir is not None:
                target = out_dir / f"{_safe(ex.id)}_{i}.png"
                img.save(target)
                saved = f" -> {target}"
            print(f"    image {i}: {img.mode} {img.width}x{img.height}{saved}")
        print("    prompt:")
        for message in ex.prompt:
            print(_indent(f"{message['role']}: {_content_text(message['content'])}", "      "))
        print()
    if not loaded.report.clean:
        print(loaded.report.table(max_issues=10))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from mmrl.data import DataValidationError, load_examples

    cfg, split = _resolve(args)
    d = cfg.data
    try:
        loaded = load_examples(
            d.recipe,
            split=split,
            path=d.path,
            options=d.options,
            template=d.template,
            columns=d.columns,
            limit=d.limit,
            on_bad_row=d.on_bad_row,  # every row is read either way; the policy gives the verdict
            max_bad_fraction=d.max_bad_fraction,
            allow_remote_images=d.allow_remote_images,
            image_root=d.image_root,
            allow_outside_paths=d.allow_outside_paths,
            max_image_bytes=d.max_image_bytes,
            log_report=False,  # printed below, once
        )
        report = loaded.report
    except DataValidationError as exc:
        report = exc.report
    print(report.table(max_issues=200))
    return 0 if report.clean and report.kept > 0 else 1


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join("<image>" if part["type"] == "image" else part["text"] for part in content)


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line for line in text.splitlines())


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
