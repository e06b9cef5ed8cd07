"""What an evaluation produces: per-sample verdicts, per-problem records, and the metrics over them.

``EvalResult`` holds one benchmark's problems (or one validation set's). Every number is
computed from the records with the pure estimators of ``mmrl.eval.passk``, so the trainer's
validation, ``mmrl eval`` and ``mmrl eval compare`` all report the same quantities:

* ``pass@k``: mean over problems of the unbiased ``1 - C(n - c, k) / C(n, k)``;
* ``mean@k``: mean over problems of ``c / n`` (the same for every ``k``; also called avg@n);
* ``maj@k``: mean over problems of the majority vote's correctness over blocks of ``k`` samples.

Conventions (the same everywhere):

* A sample is **correct** when its verifier said ``Score.correct is True``. A partial-credit
  verifier that returns a reward strictly between 0 and 1 without saying ``correct`` counts as not
  correct.
* A sample that **could not be scored** (``Score.reward is None``: status ``timeout``, ``error``
  or ``unparsable_gold``) is left out, as the trainer leaves it out of the group baseline: the
  problem's ``n`` is its number of scored samples. A problem with fewer than ``k`` scored samples
  is left out of that ``k``'s means; ``metrics()["excluded"][k]`` counts them, and
  ``metrics()["unscored"]`` counts the unscored samples. Neither is ever silently zero.
* Groups: ``overall``, ``by_task`` (the verifier name, ``Example.task``) and ``by_category``
  (``Example.meta["category"]``: MathVerse version, MathVista task, difficulty level, ...; problems
  without one are only in ``overall`` and ``by_task``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmrl.eval.passk import maj_at_k, mean_at_k, pass_at_k

__all__ = [
    "METRICS",
    "EvalResult",
    "ProblemRecord",
    "SampleRecord",
    "check_ks",
    "group_metrics",
    "json_ready",
]

#: The metric families, in the order reports show them.
METRICS: tuple[str, ...] = ("pass@k", "mean@k", "maj@k")


def check_ks(ks: Iterable[int], n: int) -> tuple[int, ...]:
    """``ks`` sorted and de-duplicated; raises ``ValueError`` for an empty list, k < 1 or k > n.

    Called before any generation, so a k that ``n`` samples cannot estimate fails at once.

    >>> check_ks([4, 1, 2, 4], 4)
    (1, 2, 4)
    """
    out = tuple(sorted(set(int(k) for k in ks)))
    if not out:
        raise ValueError("no k given: list at least one k, e.g. 1")
    if out[0] < 1:
        raise ValueError(f"k={out[0]} must be >= 1")
    too_big = [k for k in out if k > n]
    if too_big:
        raise ValueError(
            f"pass@k needs at least k samples per problem: k={too_big} > n={n}; "
            f"raise n to {max(too_big)} or drop those k"
        )
    return out


@dataclass(frozen=True)
class SampleRecord:
    """One response and its verdict.

    Attributes:
        response: The decoded response text.
        finish_reason: ``stop`` or ``length`` (truncated).
        tokens: Number of response tokens.
        reward: The verifier's reward (``None``: could not be scored).
        correct: ``True``/``False`` by the convention above; ``None`` exactly when ``reward`` is None.
        status: The ``Score`` status.
        extracted: The final answer the verifier read, if any (the vote of ``maj@k``).
        message: The verifier's reason, if any.
    """

    response: str
    finish_reason: str
    tokens: int
    reward: float | None
    correct: bool | None
    status: str
    extracted: str | None = None
    message: str | None = None

    @classmethod
    def from_score(cls, response: str, finish_reason: str, tokens: int, score: Any) -> SampleRecord:
        """From a ``mmrl.types.Score``; ``correct`` follows the module's convention."""
        scored = score.reward is not None
        return cls(
            response=response,
            finish_reason=finish_reason,
            tokens=int(tokens),
            reward=None if not scored else float(score.reward),
            correct=None if not scored else score.correct is True,
            status=score.status,
            extracted=score.extracted,
            message=score.message,
        )


@dataclass(frozen=True)
class ProblemRecord:
    """One problem's ``n`` samples with their verdicts.

    Attributes:
        id: The example id.
        task: The verifier name (``Example.task``).
        category: ``Example.meta["category"]`` as text, or ``None``.
        answer: The gold answer.
        samples: The samples in ``sample_index`` order.
        prompt: The prompt as the data gave it (``Example.prompt``: text or chat messages).
        rendered_prompt: The prompt text the model saw (chat template applied), when known.
        images: The prompt's images: paths relative to the output directory (``images/<digest>.png``,
            see ``mmrl.data.image_store``) or, when they were not stored, ``image_reference`` names.
    """

    id: str
    task: str
    category: str | None
    answer: str
    samples: tuple[SampleRecord, ...]
    prompt: Any = None
    images: tuple[str, ...] = ()
    rendered_prompt: str | None = None

    @property
    def n(self) -> int:
        """Scored samples (the ``n`` of pass@k)."""
        return sum(1 for s in self.samples if s.correct is not None)

    @property
    def c(self) -> int:
        """Correct samples."""
        return sum(1 for s in self.samples if s.correct is True)

    @property
    def unscored(self) -> int:
        return len(self.samples) - self.n

    @property
    def responses(self) -> list[str]:
        return [s.response for s in self.samples]

    def votes(self) -> tuple[list[str | None], list[bool]]:
        """Scored samples' ``(answers, correct)`` for ``maj_at_k``; answers compared stripped."""
        scored = [s for s in self.samples if s.correct is not None]
        answers = [
            None if s.extracted is None or not s.extracted.strip() else s.extracted.strip() for s in scored
        ]
        return answers, [bool(s.correct) for s in scored]

    def to_dict(self, with_samples: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "task": self.task,
            "category": self.category,
            "answer": self.answer,
            "n": self.n,
            "c": self.c,
            "unscored": self.unscored,
            "prompt": self.prompt,
            "rendered_prompt": self.rendered_prompt,
            "images": list(self.images),
        }
        if with_samples:
            out["samples"] = [asdict(s) for s in self.samples]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProblemRecord:
        return cls(
            id=str(data["id"]),
            task=str(data["task"]),
            category=data.get("category"),
            answer=str(data["answer"]),
            samples=tuple(SampleRecord(**s) for s in data["samples"]),
            prompt=data.get("prompt"),  # absent in files written before prompts were kept
            images=tuple(str(i) for i in data.get("images") or ()),
            rendered_prompt=data.get("rendered_prompt"),
        )


def group_metrics(problems: Sequence[ProblemRecord], ks: Sequence[int]) -> dict[str, Any]:
    """pass@k, mean@k and maj@k of a group of problems, with the counts behind them.

    Returns ``{"problems", "samples", "unscored", "excluded": {k: count}, "pass@k": {k: v},
    "mean@k": {k: v}, "maj@k": {k: v}, "mean_tokens", "truncated"}``. A ``k`` that no problem can
    estimate (all have fewer than ``k`` scored samples) gets ``NaN`` and is named in ``excluded``.
    """
    if not problems:
        raise ValueError("metrics over zero problems are undefined")
    samples = [s for p in problems for s in p.samples]
    out: dict[str, Any] = {
        "problems": len(problems),
        "samples": len(samples),
        "unscored": sum(p.unscored for p in problems),
        "excluded": {},
        **{name: {} for name in METRICS},
        "mean_tokens": sum(s.tokens for s in samples) / len(samples) if samples else math.nan,
        "truncated": sum(s.finish_reason == "length" for s in samples) / len(samples)
        if samples
        else math.nan,
    }
    votes = {p.id: p.votes() for p in problems}
    for k in ks:
        usable = [p for p in problems if p.n >= k]
        out["excluded"][k] = len(problems) - len(usable)
        if not usable:
            for name in METRICS:
                out[name][k] = math.nan
            continue
        out["pass@k"][k] = sum(pass_at_k(p.n, p.c, k) for p in usable) / len(usable)
        out["mean@k"][k] = sum(mean_at_k(p.n, p.c, k) for p in usable) / len(usable)
        out["maj@k"][k] = sum(maj_at_k(*votes[p.id], k) for p in usable) / len(usable)
    return out


def _grouped(
    problems: Sequence[ProblemRecord], key: Callable[[ProblemRecord], str | None]
) -> dict[str, list]:
    groups: dict[str, list[ProblemRecord]] = {}
    for p in problems:
        name = key(p)
        if name is not None:
            groups.setdefault(name, []).append(p)
    return dict(sorted(groups.items()))


@dataclass
class EvalResult:
    """One benchmark's evaluation: its problems' records and the metrics over them.

    Attributes:
        name: The benchmark (or validation set) label.
        n: Samples generated per problem.
        ks: The ``k`` values reported (each ``<= n``).
        problems: One record per evaluated problem, in input order.
        dropped: Problems not evaluated, as ``{"id", "reason", "message"}`` (e.g. a prompt over
            ``data.max_prompt_length``); reported, never silently lost.
        info: Free-form facts kept with the result (recipe, split, path, timings).
    """

    name: str
    n: int
    ks: tuple[int, ...]
    problems: list[ProblemRecord]
    dropped: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ks = check_ks(self.ks, self.n)

    # -- metrics ---------------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """``{"overall": group, "by_task": {task: group}, "by_category": {category: group}}``.

        Each ``group`` is ``group_metrics``'s dict.
        """
        return {
            "overall": group_metrics(self.problems, self.ks),
            "by_task": {
                t: group_metrics(ps, self.ks) for t, ps in _grouped(self.problems, lambda p: p.task).items()
            },
            "by_category": {
                c: group_metrics(ps, self.ks)
                for c, ps in _grouped(self.problems, lambda p: p.category).items()
            },
        }

    def curve(self, metric: str = "pass@k", group: str | None = None) -> dict[int, float]:
        """``{k: value}`` of ``metric`` overall or for one task or category name."""
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r} must be one of {METRICS}")
        if group is None:
            return dict(group_metrics(self.problems, self.ks)[metric])
        members = [p for p in self.problems if group in (p.task, p.category)]
        if not members:
            raise KeyError(f"no task or category named {group!r} in {self.name!r}")
        return dict(group_metrics(members, self.ks)[metric])

    def pass_at_k(self) -> dict[int, float]:
        return self.curve("pass@k")

    def flat_metrics(self, prefix: str = "") -> dict[str, float]:
        """Scalars for a metrics logger: ``{prefix}pass@1``, ``{prefix}task/math/pass@1``, ...

        Also ``{prefix}problems`` and ``{prefix}unscored``; categories as
        ``{prefix}category/NAME/pass@k``.
        """
        m = self.metrics()
        out: dict[str, float] = {}

        def add(base: str, group: Mapping[str, Any]) -> None:
            for name in METRICS:
                for k, value in group[name].items():
                    out[f"{prefix}{base}{name.replace('@k', f'@{k}')}"] = value

        add("", m["overall"])
        out[f"{prefix}problems"] = float(m["overall"]["problems"])
        out[f"{prefix}unscored"] = float(m["overall"]["unscored"])
        for task, group in m["by_task"].items():
            add(f"task/{task}/", group)
        for category, group in m["by_category"].items():
            add(f"category/{category}/", group)
        return out

    # -- serialisation ---------------------------------------------------------------------------

    def to_dict(self, with_samples: bool = False) -> dict[str, Any]:
        """JSON-ready dict: metrics (``k`` keys as strings), per-problem ``n``/``c`` (and samples)."""
        return {
            "name": self.name,
            "n": self.n,
            "ks": list(self.ks),
            "metrics": json_ready(self.metrics()),
            "problems": [p.to_dict(with_samples) for p in self.problems],
            "dropped": list(self.dropped),
            "info": dict(self.info),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalResult:
        """Rebuild from ``to_dict(with_samples=True)`` output (metrics are recomputed)."""
        problems = data["problems"]
        if problems and "samples" not in problems[0]:
            raise ValueError(
                f"result {data.get('name')!r} was saved without samples; rebuild it from samples.jsonl "
                "(mmrl.eval.read_samples) or save it with to_dict(with_samples=True)"
            )
        return cls(
            name=str(data["name"]),
            n=int(data["n"]),
            ks=tuple(int(k) for k in data["ks"]),
            problems=[ProblemRecord.from_dict(p) for p in problems],
            dropped=list(data.get("dropped", [])),
            info=dict(data.get("info", {})),
        )

    def to_json(self, path: str | Path, with_samples: bool = True) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(with_samples), indent=1, ensure_ascii=False, allow_nan=False))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> EvalResult:
        return cls.from_dict(json.loads(Path(path).read_text()))


def json_ready(value: Any) -> Any:
    """Dict keys as strings (JSON object keys) and NaN as ``None`` (JSON has no NaN), recursively."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
