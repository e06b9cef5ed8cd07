"""The validation report of one load: every bad row with its index, reason and path, and the verdict.

Reason codes (one row may have several):

==========================  ======================================================================
``missing_field``           a field the recipe reads is absent from the row
``empty_question``          the question/prompt is missing or blank
``empty_answer``            the gold answer is missing, null, NaN or blank
``image_missing``           the image file does not exist (or the value is null/empty)
``image_empty``             a zero-byte image file or value
``image_corrupt``           PIL cannot identify or decode it (truncated, not an image)
``image_oversized``         more pixels than PIL's decompression-bomb limit
``image_aspect``            long side > 200 x short side (Qwen-VL's resize refuses it)
``image_too_large``         more bytes than ``data.max_image_bytes`` (known before reading)
``image_outside_root``      a path outside the dataset's directory / ``data.image_root``
``image_remote_refused``    an http(s) URL while ``data.allow_remote_images`` is false, or one whose
                            host is a loopback, private or link-local address
``image_remote_failed``     the download failed or took too long
``bad_images``              the images column holds something other than images (e.g. a number)
``placeholder_mismatch``    ``<image>`` markers in the question != number of images
``unparsable_gold``         the verifier cannot parse the gold answer (gold scored against itself)
``duplicate_id``            the same id as an earlier row
``bad_*`` / other codes     a recipe rejected the row (the detail says why)
==========================  ======================================================================
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from mmrl.errors import UserError

__all__ = ["DataValidationError", "RowIssue", "ValidationReport"]


@dataclass(frozen=True)
class RowIssue:
    """One problem with one source row."""

    row_index: int
    reason: str
    detail: str
    example_id: str | None = None
    field: str | None = None
    path: str | None = None


@dataclass
class ValidationReport:
    """Counts and issues of one ``load_examples`` call.

    ``rows_read`` counts source rows looked at; ``filtered`` rows were dropped on purpose by a recipe
    option; ``bad_rows`` is the number of rows with at least one issue; ``kept`` is the number of
    examples returned. With a ``limit``, reading stops once ``limit`` rows are kept.
    """

    recipe: str
    split: str
    source: str
    on_bad_row: Literal["skip", "fail"]
    max_bad_fraction: float
    rows_read: int = 0
    filtered: int = 0
    kept: int = 0
    bad_rows: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    limit: int | None = None

    @property
    def bad_fraction(self) -> float:
        """Bad rows over rows read, excluding filtered ones (0.0 when nothing was read)."""
        considered = self.rows_read - self.filtered
        return self.bad_rows / considered if considered > 0 else 0.0

    @property
    def clean(self) -> bool:
        """No bad row at all."""
        return self.bad_rows == 0

    @property
    def ok(self) -> bool:
        """The load is acceptable under its policy: clean, or skipping within the threshold."""
        if self.kept == 0:
            return False
        if self.on_bad_row == "fail":
            return self.clean
        return self.bad_fraction <= self.max_bad_fraction

    def counts_by_reason(self) -> dict[str, int]:
        """Rows per reason (a row with two reasons counts under both)."""
        seen: set[tuple[int, str]] = set()
        counts: Counter[str] = Counter()
        for issue in self.issues:
            if (issue.row_index, issue.reason) not in seen:
                seen.add((issue.row_index, issue.reason))
                counts[issue.reason] += 1
        return dict(counts.most_common())

    def verdict(self) -> str:
        if self.kept == 0:
            return "FAILED: no usable rows"
        if self.clean:
            return "ok: every row is valid"
        pct, limit = 100 * self.bad_fraction, 100 * self.max_bad_fraction
        if self.on_bad_row == "fail":
            return f"FAILED: {self.bad_rows} bad row(s) and data.on_bad_row=fail"
        if self.bad_fraction > self.max_bad_fraction:
            return (
                f"FAILED: {pct:.1f}% of rows are bad, above data.max_bad_fraction={self.max_bad_fraction} "
                f"({limit:.1f}%); fix the rows or raise the threshold"
            )
        return f"ok: {self.bad_rows} bad row(s) skipped ({pct:.1f}% <= {limit:.1f}%)"

    def table(self, max_issues: int = 50) -> str:
        """The report as text: counts, rows per reason, then the issues (row, id, reason, detail)."""
        lines = [
            f"data: {self.recipe} [{self.split}] from {self.source}",
            f"  rows read  {self.rows_read}"
            + (f" (stopped at limit={self.limit} kept)" if self.limit else ""),
            f"  filtered   {self.filtered}   (dropped by recipe options)",
            f"  bad        {self.bad_rows}   ({100 * self.bad_fraction:.1f}%, policy {self.on_bad_row}, "
            f"max_bad_fraction {self.max_bad_fraction})",
            f"  kept       {self.kept}",
        ]
        counts = self.counts_by_reason()
        if counts:
            lines.append("")
            lines.append(f"  {'reason':<22} {'rows':>5}  first rows")
            for reason, n in counts.items():
                first = sorted({i.row_index for i in self.issues if i.reason == reason})[:5]
                lines.append(f"  {reason:<22} {n:>5}  {', '.join(map(str, first))}")
            lines.append("")
            lines.append(f"  {'row':>6}  {'reason':<22} detail")
            for issue in self.issues[:max_issues]:
                where = f"{issue.field}: " if issue.field else ""
                path = f" [{issue.path}]" if issue.path else ""
                ident = f" (id {issue.example_id})" if issue.example_id else ""
                lines.append(f"  {issue.row_index:>6}  {issue.reason:<22} {where}{issue.detail}{path}{ident}")
            if len(self.issues) > max_issues:
                lines.append(f"  ... and {len(self.issues) - max_issues} more issue(s)")
        lines.append("")
        lines.append(f"  {self.verdict()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "split": self.split,
            "source": self.source,
            "rows_read": self.rows_read,
            "filtered": self.filtered,
            "bad_rows": self.bad_rows,
            "kept": self.kept,
            "bad_fraction": self.bad_fraction,
            "on_bad_row": self.on_bad_row,
            "max_bad_fraction": self.max_bad_fraction,
            "ok": self.ok,
            "counts_by_reason": self.counts_by_reason(),
            "issues": [issue.__dict__ for issue in self.issues],
        }


class DataValidationError(UserError):
    """A load failed its validation policy; ``report`` holds the details."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(f"data validation failed for {report.recipe} [{report.split}]\n{report.table()}")
