"""``SampleCache``: finished problems on disk, so an interrupted evaluation resumes where it stopped.

One JSON Lines file per benchmark. The first line is a header ``{"mmrl_eval_cache": 1,
"fingerprint": {...}}``; every later line is one finished problem (``ProblemRecord.to_dict()``,
responses and verdicts included), appended and flushed to disk after each chunk.

The fingerprint says what produced the samples (model identity, sampling, ``n``, seed,
benchmark, reward settings). Opening a cache whose fingerprint differs from the current run's
raises ``CacheMismatch`` naming the keys that differ: reusing samples of another model or another
temperature would silently mix two evaluations. A last line cut by a crash mid-write is dropped
(and cut from the file) with a warning; the problem it held is generated again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmrl.errors import UserError
from mmrl.eval.results import ProblemRecord

__all__ = ["CacheMismatch", "SampleCache"]

log = logging.getLogger("mmrl.eval")

_FORMAT = 1


class CacheMismatch(UserError):
    """The cache on disk was made by a different model, sampling or benchmark setting."""


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out.extend(_diff(old.get(key), new.get(key), f"{prefix}{key}."))
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: cached {old!r}, now {new!r}"]


class SampleCache:
    """A JSON Lines file of finished ``ProblemRecord``s guarded by a fingerprint.

    Args:
        path: The cache file (created with its parent directory on first ``append``).
        fingerprint: JSON-serialisable facts that must match for cached samples to be reused.
    """

    def __init__(self, path: str | Path, fingerprint: Mapping[str, Any]):
        self.path = Path(path)
        self.fingerprint = json.loads(json.dumps(fingerprint))  # normalised: tuples -> lists
        self._checked = False

    def load(self) -> dict[str, ProblemRecord]:
        """Finished problems by id (empty for a new cache); raises ``CacheMismatch`` on a fingerprint change."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            self._checked = True
            return {}
        raw = self.path.read_bytes()
        complete_end = raw.rfind(b"\n") + 1
        if complete_end < len(raw):
            log.warning(
                "%s: dropping a last line cut by an interrupted write (%d bytes); that problem is generated again",
                self.path,
                len(raw) - complete_end,
            )
            with self.path.open("r+b") as handle:
                handle.truncate(complete_end)
            raw = raw[:complete_end]
        lines = raw.decode("utf-8").splitlines()
        if not lines:
            self._checked = True
            return {}
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("mmrl_eval_cache") != _FORMAT:
            raise UserError(
                f"{self.path} is not an mmrl eval cache (format {_FORMAT}); delete it or choose another --output"
            )
        differences = _diff(header.get("fingerprint"), self.fingerprint)
        if differences:
            raise CacheMismatch(
                f"the sample cache {self.path} was made with different settings:\n  "
                + "\n  ".join(differences)
                + "\nUse another --output directory, or pass --restart to discard the cached samples."
            )
        self._checked = True
        records: dict[str, ProblemRecord] = {}
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                record = ProblemRecord.from_dict(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(
                    f"{self.path} line {number} is not a problem record ({exc}); delete the file or pass --restart"
                ) from None
            records[record.id] = record
        return records

    def append(self, records: Sequence[ProblemRecord]) -> None:
        """Write ``records`` at the end of the file and flush them to disk."""
        if not self._checked:
            self.load()  # never append to a file made with other settings
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.is_file() or self.path.stat().st_size == 0
        with self.path.open("a", encoding="utf-8") as handle:
            if new:
                handle.write(json.dumps({"mmrl_eval_cache": _FORMAT, "fingerprint": self.fingerprint}) + "\n")
            for record in records:
                handle.write(json.dumps(record.to_dict(with_samples=True), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def clear(self) -> None:
        """Delete the file (``--restart``)."""
        self.path.unlink(missing_ok=True)
        self._checked = False
