"""``load_examples``: a recipe's rows -> validated ``Example``s and a report.

For each source row, in order:

1. the recipe converts it to ``RowFields`` (or drops it on purpose: ``filtered``);
2. question and answer must be non-blank text;
3. every image is decoded to RGB (``mmrl.data.images``); each failure is an issue with its path.
   Image files must lie under the dataset's directory (``data.path`` when it is a directory, else
   the file's directory) or ``data.image_root``, unless ``data.allow_outside_paths``; none may be
   larger than ``data.max_image_bytes``;
4. the template renders the text and the image markers must match the images;
5. the id must be new; 6. the verifier must parse the gold answer (``rewards.check_gold``).

A row with any issue is bad. ``on_bad_row="fail"`` raises ``DataValidationError`` when any row is
bad; ``"skip"`` drops bad rows and raises only when their fraction exceeds ``max_bad_fraction``.
Either way the report lists every issue with the row index, and a load that keeps no row fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mmrl.data.images import DEFAULT_MAX_IMAGE_BYTES, ImageProblem, decode_image, describe_image_value
from mmrl.data.prompts import PlaceholderMismatch, build_messages, load_template, render_text
from mmrl.data.recipes import Recipe, RecipeContext, RowError, RowFields, get_recipe
from mmrl.data.sources import open_rows
from mmrl.data.validation import DataValidationError, RowIssue, ValidationReport
from mmrl.errors import UserError
from mmrl.types import Example

__all__ = ["GoldCheck", "LoadedData", "load_examples", "load_from_config"]

log = logging.getLogger("mmrl.data")

#: ``check_gold(example) -> None`` when the verifier can parse the gold answer, else the reason.
GoldCheck = Callable[[Example], "str | None"]


@dataclass(repr=False)
class LoadedData(Sequence[Example]):
    """The examples of one load, with the recipe, split, template and validation report."""

    examples: list[Example]
    report: ValidationReport
    recipe: Recipe
    split: str
    template: str

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: Any) -> Any:
        return self.examples[index]

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __repr__(self) -> str:
        return f"LoadedData({self.recipe.name} [{self.split}]: {len(self.examples)} examples, template {self.template})"


def load_examples(
    recipe: str | Recipe,
    *,
    split: str | None = None,
    path: str | None = None,
    options: Mapping[str, Any] | None = None,
    template: str | None = None,
    columns: Mapping[str, str] | None = None,
    limit: int | None = None,
    on_bad_row: Literal["skip", "fail"] = "skip",
    max_bad_fraction: float = 0.05,
    allow_remote_images: bool = False,
    image_root: str | None = None,
    allow_outside_paths: bool = False,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    check_gold: GoldCheck | None = None,
    log_report: bool = True,
) -> LoadedData:
    """Load, convert and validate one split of a recipe.

    Args:
        recipe: A recipe name (``mmrl data list``), ``pkg.module:NAME``, ``file.py:NAME`` or a ``Recipe``.
        split: The split; ``None`` uses the recipe's default (its first listed split).
        path: Local directory / parquet / jsonl with the recipe's schema; ``None`` loads from the Hub
            (or generates, for synthetic recipes).
        options: Recipe options (``data.options``); unknown keys are an error.
        template: Template name or ``.jinja`` path; ``None`` uses the recipe's.
        columns: Generic recipes: mmrl field -> your column name.
        limit: Keep at most this many valid rows (reading stops there).
        on_bad_row: ``skip`` (drop bad rows, fail above ``max_bad_fraction``) or ``fail``.
        max_bad_fraction: With ``skip``, the largest tolerated fraction of bad rows.
        allow_remote_images: Fetch ``http(s)`` image URLs instead of refusing them.
        image_root: The directory image paths must resolve under; ``None``: the dataset's own (``path``
            when it is a directory, else its parent; rows from the Hub or a generator have none).
        allow_outside_paths: Read image paths wherever they lead.
        max_image_bytes: The largest image file, value or download read.
        check_gold: The gold-answer check; ``None`` uses ``rewards.check_gold``.
        log_report: Log the outcome (a summary line, or the report of skipped rows); callers that
            print the report themselves turn it off.

    Raises:
        DataValidationError: the rows fail the policy (the message holds the report table).
        UserError: the recipe, path, split, options or template cannot be used.
    """
    _check_policy(on_bad_row, max_bad_fraction, limit)
    rec = recipe if isinstance(recipe, Recipe) else get_recipe(recipe)
    split = split or rec.default_split
    if rec.splits and split not in rec.splits and path is None:
        raise UserError(
            f"recipe {rec.name!r} has splits {', '.join(rec.splits)}; split {split!r} is not one of them "
            "(a local data.path may hold other splits)"
        )
    ctx = RecipeContext(rec.name, split, rec.resolve_options(options), dict(columns or {}))
    image_rules = _image_rules(path, image_root, allow_outside_paths, allow_remote_images, max_image_bytes)
    template_name = template or rec.template
    compiled = load_template(template_name)
    gold_check = check_gold if check_gold is not None else _default_gold_check()

    source = open_rows(rec, ctx, path)
    report = ValidationReport(
        recipe=rec.name,
        split=split,
        source=source.description,
        on_bad_row=on_bad_row,
        max_bad_fraction=max_bad_fraction,
        limit=limit,
    )
    required = rec.source_columns(ctx)
    if source.columns is not None:
        _check_columns(required, source.columns, rec, source.description)
    examples, first_fields = _convert_rows(rec, ctx, source, compiled, image_rules, gold_check, report)

    if source.columns is None and first_fields is not None and _only_missing_fields(report):
        # No row had a field the recipe reads: the columns are named otherwise (data.columns), which
        # says more than a table of bad rows. A row that alone lacks one is a bad row like any other.
        _check_columns(required, first_fields, rec, source.description)
    if log_report:
        _log_report(report)
    if not report.ok:
        raise DataValidationError(report)
    return LoadedData(examples, report, rec, split, template_name)


def _convert_rows(
    rec: Recipe,
    ctx: RecipeContext,
    source: Any,
    compiled: Any,
    image_rules: Any,
    gold_check: GoldCheck,
    report: ValidationReport,
) -> tuple[list[Example], list[str] | None]:
    """``source``'s rows as examples, each outcome counted in ``report`` (reading stops at
    ``report.limit`` kept rows), and the first row's field names (JSON rows carry their own fields:
    the first row's stand in for the columns)."""
    examples: list[Example] = []
    seen_ids: dict[str, int] = {}
    first_fields: list[str] | None = None
    for index, row, base_dir in source.rows:
        if first_fields is None:
            first_fields = list(row)
        report.rows_read += 1
        example, issues = _row_to_example(
            rec, ctx, index, row, base_dir, compiled, image_rules, seen_ids, gold_check
        )
        if example is None and not issues:
            report.filtered += 1
            continue
        if issues:
            report.bad_rows += 1
            report.issues.extend(issues)
            continue
        assert example is not None
        seen_ids[example.id] = index
        examples.append(example)
        report.kept += 1
        if report.limit is not None and report.kept >= report.limit:
            break
    return examples, first_fields


def load_from_config(
    data: Any, split: str | None = None, *, check_gold: GoldCheck | None = None
) -> LoadedData:
    """``load_examples`` with the fields of a ``DataConfig`` (``cfg.data``); ``split`` overrides it."""
    return load_examples(
        data.recipe,
        split=split or data.split,
        path=data.path,
        options=data.options,
        template=data.template,
        columns=data.columns,
        limit=data.limit,
        on_bad_row=data.on_bad_row,
        max_bad_fraction=data.max_bad_fraction,
        allow_remote_images=data.allow_remote_images,
        image_root=data.image_root,
        allow_outside_paths=data.allow_outside_paths,
        max_image_bytes=data.max_image_bytes,
        check_gold=check_gold,
    )


# --------------------------------------------------------------------------------------------


def _image_rules(
    path: str | None, image_root: str | None, allow_outside: bool, allow_remote: bool, max_bytes: int
) -> dict[str, Any]:
    """``decode_image``'s keyword arguments for one load. Image files must be under ``image_root``,
    else the dataset's directory (``path`` itself, or the file's directory), else nowhere."""
    root = None
    if image_root is not None:
        root = Path(image_root).expanduser()
        if not root.is_dir():
            raise UserError(f"data.image_root={image_root!r} is not a directory")
    elif path is not None:
        data_path = Path(path).expanduser()
        root = data_path if data_path.is_dir() else data_path.parent
    return {
        "root": root,
        "allow_outside": allow_outside,
        "allow_remote": allow_remote,
        "max_bytes": max_bytes,
    }


def _check_policy(on_bad_row: str, max_bad_fraction: float, limit: int | None) -> None:
    if on_bad_row not in ("skip", "fail"):
        raise UserError(f"data.on_bad_row={on_bad_row!r} must be 'skip' or 'fail'")
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise UserError(f"data.max_bad_fraction={max_bad_fraction} must be in [0, 1]")
    if limit is not None and limit < 1:
        raise UserError(f"data.limit={limit} must be >= 1 or null")


def _default_gold_check() -> GoldCheck:
    try:
        from rewards import check_gold
    except ImportError as exc:
        raise RuntimeError(
            f"rewards.check_gold is not importable ({exc}); it scores each gold answer against itself"
        ) from None
    return check_gold


def _check_columns(required: Sequence[str], present: Sequence[str], rec: Recipe, where: str) -> None:
    missing = [c for c in required if c not in present]
    if missing:
        raise UserError(
            f"{where} has no column {', '.join(repr(c) for c in missing)}, which recipe {rec.name!r} needs; "
            f"its columns are {', '.join(map(repr, present))}"
            + (
                "; map yours with data.columns (e.g. data.columns.question=problem)"
                if rec.required_columns
                else ""
            )
        )


def _only_missing_fields(report: ValidationReport) -> bool:
    """Nothing was kept and every bad row lacks a field."""
    missing = [i.reason == "missing_field" for i in report.issues]
    return report.kept == 0 and bool(missing) and all(missing)


def _row_to_example(
    rec: Recipe,
    ctx: RecipeContext,
    index: int,
    row: dict[str, Any],
    base_dir: Path | None,
    template: Any,
    image_rules: dict[str, Any],
    seen_ids: dict[str, int],
    gold_check: GoldCheck,
) -> tuple[Example | None, list[RowIssue]]:
    try:
        fields = rec.convert(row, ctx)
    except RowError as exc:
        return None, [RowIssue(index, exc.reason, exc.detail, field=exc.field)]
    except KeyError as exc:
        name = exc.args[0] if exc.args else "?"
        return None, [RowIssue(index, "missing_field", f"the row has no field {name!r}", field=str(name))]
    except Exception as exc:  # a bug in the recipe: keep its traceback, say which row set it off
        exc.add_note(f"while recipe {rec.name!r} converted row {index} of split {ctx.split!r}")
        raise
    if fields is None:
        return None, []
    if not isinstance(fields, RowFields):
        raise TypeError(f"recipe {rec.name!r} convert() returned {type(fields).__name__}, expected RowFields")
    ex_id = f"{rec.name}/{ctx.split}/{fields.native_id if fields.native_id is not None else index}"
    issues: list[RowIssue] = []

    def issue(reason: str, detail: str, field: str | None = None, path: str | None = None) -> None:
        issues.append(RowIssue(index, reason, detail, ex_id, field, path))

    if not isinstance(fields.question, str) or not fields.question.strip():
        issue("empty_question", "the question is empty", "question")
    if not fields.answer.strip():
        issue("empty_answer", "the gold answer is missing or empty", "answer")
    if not fields.task:
        issue("bad_task", "no verifier name (task) for this row", "task")

    decoded = []
    for i, value in enumerate(fields.images):
        try:
            decoded.append(decode_image(value, base_dir=base_dir, **image_rules))
        except ImageProblem as exc:
            issue(exc.reason, exc.detail, f"images[{i}]", exc.path)

    meta = {
        **fields.meta,
        "row_index": index,
        "source": rec.name,
        "split": ctx.split,
    }
    if fields.images:
        meta["image_refs"] = [describe_image_value(v, base_dir) for v in fields.images]

    messages: Any = None
    images: tuple[Any, ...] = ()
    if not any(i.reason == "empty_question" for i in issues):
        text = render_text(
            template, question=fields.question, choices=fields.choices, task=fields.task, meta=meta
        )
        if len(decoded) == len(fields.images):
            try:
                messages, images = build_messages(text, decoded)
            except PlaceholderMismatch as exc:
                issue("placeholder_mismatch", str(exc), "question")
        else:  # some images failed: still check the marker count against the row's images
            try:
                build_messages(text, list(fields.images))
            except PlaceholderMismatch as exc:
                issue("placeholder_mismatch", str(exc), "question")

    if ex_id in seen_ids:
        issue("duplicate_id", f"the same id as row {seen_ids[ex_id]}", "id")

    example = Example(
        id=ex_id,
        task=fields.task,
        prompt=messages if messages is not None else [],
        answer=fields.answer,
        images=images,
        choices=fields.choices,
        meta=meta,
    )
    if fields.answer.strip() and fields.task:
        try:
            reason = gold_check(example)
        except Exception as exc:  # a crash in the checker is reported with the row, not hidden
            reason = f"the gold check raised {type(exc).__name__}: {exc}"
        if reason is not None:
            issue("unparsable_gold", f"{fields.answer!r}: {reason}", "answer")
    return (None if issues else example), issues


def _log_report(report: ValidationReport) -> None:
    if report.clean:
        log.info(
            "%s [%s]: %d examples from %s (%d rows read, %d filtered)",
            report.recipe,
            report.split,
            report.kept,
            report.source,
            report.rows_read,
            report.filtered,
        )
    elif report.ok:
        log.warning("some rows were skipped:\n%s", report.table(max_issues=20))
