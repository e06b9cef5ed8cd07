"""``evaluate_examples``: sample ``n`` responses per problem, score them, and collect an ``EvalResult``.

The one evaluation path of mmrl: ``mmrl eval`` calls it per benchmark, and the trainer calls it
for in-training validation, so both use the same engine call, the same verifier path
(``rewards.RewardRunner``) and the same estimators (``mmrl.eval.passk``)::

    from mmrl.eval import evaluate_examples, check_ks
    from mmrl.rollout import Sampling

    result = evaluate_examples(
        prompts,                                   # Examples, or policy.prepare(examples)[0]
        engine=engine, n=cfg.eval.n, ks=cfg.eval.k,
        sampling=Sampling.from_eval(cfg.eval, cfg.rollout, seed=step),
        reward_runner=runner, progress=False, name="val",
    )
    metrics.update(result.flat_metrics("val/"))    # val/pass@1, val/task/math/pass@1, ...

Problems are generated in chunks of ``chunk_size`` consecutive problems (chunk boundaries are
fixed by the input order, and chunk ``i`` samples with seed ``sampling.seed + i * SEED_STRIDE``).
After each chunk is scored its records go to the ``cache`` (``mmrl.eval.cache.SampleCache``), so
an interrupted evaluation resumes where it stopped: problems already in the cache are neither
generated nor scored again, and with a seed the resumed run's samples equal an uninterrupted
run's on the same device.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from mmrl.data.image_store import ImageStore, image_reference
from mmrl.eval.results import EvalResult, ProblemRecord, SampleRecord, check_ks
from mmrl.types import Example, Rollout

__all__ = ["SEED_STRIDE", "ProblemCache", "evaluate_examples", "example_category"]

log = logging.getLogger("mmrl.eval")

#: Seed offset between chunks (larger than any engine's number of calls per chunk, so the
#: per-call seeds of two chunks never coincide).
SEED_STRIDE = 100_003


class ProblemCache(Protocol):
    """Where finished problems are kept between runs (``mmrl.eval.cache.SampleCache``)."""

    def load(self) -> dict[str, ProblemRecord]: ...

    def append(self, records: Sequence[ProblemRecord]) -> None: ...


def example_category(example: Example) -> str | None:
    """``meta["category"]`` as text (``None`` when absent or empty)."""
    value = example.meta.get("category")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


def _example_of(prompt: Any) -> Example:
    return prompt if isinstance(prompt, Example) else prompt.example


def evaluate_examples(
    examples: Sequence[Any],
    *,
    engine: Any,
    n: int,
    sampling: Any,
    ks: Sequence[int],
    reward_runner: Any,
    cache: ProblemCache | None = None,
    progress: bool = True,
    name: str = "eval",
    chunk_size: int = 32,
    on_chunk: Any = None,
    images: ImageStore | None = None,
    on_rollouts: Any = None,
    render: Callable[[Example], str] | None = None,
) -> EvalResult:
    """Generate ``n`` samples for each problem, score them, and return the records and metrics.

    Args:
        examples: ``Example``s, or ``PromptInputs`` from ``policy.prepare`` (encoded once; use this
            to drop over-budget prompts first and report them in ``EvalResult.dropped``).
        engine: A rollout engine (``engine.generate(prompts, n, sampling) -> list[Rollout]``).
        n: Samples per problem.
        sampling: ``mmrl.rollout.Sampling`` (e.g. ``Sampling.from_eval``).
        ks: The ``k`` values to report; every ``k`` must be ``<= n`` (checked before generating).
        reward_runner: ``rewards.RewardRunner`` (anything with its ``score`` method).
        cache: Keeps finished problems; those already in it are not generated again.
        progress: Show the problems done and the running pass@1: a tqdm bar on a terminal, else
            one INFO line per chunk.
        name: The label of the result (a benchmark name, ``"val"``).
        chunk_size: Problems per ``engine.generate`` call (and per cache write).
        on_chunk: Called as ``on_chunk(chunk_index, records)`` after each generated chunk is
            cached (tests use it to interrupt a run).
        images: Where each problem's images are stored once (``ImageStore(out_dir / "images")``),
            so that ``samples.jsonl`` references them by path; without it they are named by
            ``image_reference`` (a path or a tag).
        on_rollouts: Called with each generated chunk's ``Rollout``s (token ids included) before
            they are reduced to records; in-training validation measures entropy on them.
        render: The prompt text the model saw (``policy.render``: chat template applied), kept in
            each problem's record (``rendered_prompt`` in ``samples.jsonl``).

    Raises:
        ValueError: a ``k`` outside ``1..n``, an empty problem list, duplicate ids or a bad
            ``chunk_size``, all before any generation.
    """
    ks = check_ks(ks, n)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be >= 1")
    prompts = list(examples)
    if not prompts:
        raise ValueError(f"{name}: no problems to evaluate")
    ids = [_example_of(p).id for p in prompts]
    repeated = [i for i, count in Counter(ids).items() if count > 1]
    if repeated:
        raise ValueError(f"{name}: example ids {repeated[:5]} appear more than once; ids must be unique")

    done = _cached_records(cache, ids, n, name)

    start = time.perf_counter()
    generated = 0
    bar = _Progress(name, len(ids), len(done), enabled=progress and len(done) < len(ids))
    chunks = [list(range(s, min(s + chunk_size, len(prompts)))) for s in range(0, len(prompts), chunk_size)]
    for chunk_index, chunk in enumerate(chunks):
        todo = [i for i in chunk if ids[i] not in done]
        if not todo:
            continue
        seed = None if sampling.seed is None else sampling.seed + chunk_index * SEED_STRIDE
        rollouts = engine.generate([prompts[i] for i in todo], n, dataclasses.replace(sampling, seed=seed))
        if len(rollouts) != len(todo) * n:
            raise RuntimeError(
                f"{name}: the engine returned {len(rollouts)} rollouts for {len(todo)} prompts x n={n}"
            )
        if on_rollouts is not None:
            on_rollouts(rollouts)
        records = _score_chunk(rollouts, todo, prompts, n, reward_runner, images, render)
        if cache is not None:
            cache.append(records)
        for record in records:
            done[record.id] = record
        generated += len(records)
        bar.advance(len(records), done.values())
        if on_chunk is not None:
            on_chunk(chunk_index, records)
    bar.close()

    result = EvalResult(name=name, n=n, ks=ks, problems=[done[i] for i in ids])
    result.info["generated_problems"] = generated
    result.info["cached_problems"] = len(ids) - generated
    result.info["seconds"] = round(time.perf_counter() - start, 3)
    unscored = sum(p.unscored for p in result.problems)
    if unscored:
        log.warning(
            "%s: %d of %d samples could not be scored (timeout/error/unparsable gold); they are left out "
            "of pass@k (see samples' status)",
            name,
            unscored,
            len(ids) * n,
        )
    return result


def _cached_records(
    cache: ProblemCache | None, ids: list[str], n: int, name: str
) -> dict[str, ProblemRecord]:
    """The finished problems of ``ids`` in ``cache`` (those with exactly ``n`` samples)."""
    if cache is None:
        return {}
    wanted = set(ids)
    cached = {pid: rec for pid, rec in cache.load().items() if pid in wanted}
    done = {pid: rec for pid, rec in cached.items() if len(rec.samples) == n}
    if len(done) < len(cached):
        log.warning(
            "%s: %d cached problems have a number of samples other than n=%d; they are generated again",
            name,
            len(cached) - len(done),
            n,
        )
    if len(done) == len(ids):
        log.info("%s: all %d problems found in the cache; nothing to generate", name, len(ids))
    elif done:
        rest = len(ids) - len(done)
        log.info(
            "%s: %d of %d problems found in the cache; generating the other %d",
            name,
            len(done),
            len(ids),
            rest,
        )
    return done


def _score_chunk(
    rollouts: Sequence[Rollout],
    todo: Sequence[int],
    prompts: Sequence[Any],
    n: int,
    reward_runner: Any,
    images: ImageStore | None = None,
    render: Callable[[Example], str] | None = None,
) -> list[ProblemRecord]:
    """Score ``rollouts`` (grouped by prompt, ``n`` each) and build one record per problem."""
    scores = reward_runner.score(
        [r.response_text for r in rollouts],
        [r.example for r in rollouts],
        [r.truncated for r in rollouts],
        [len(r.response_ids) for r in rollouts],
    ).scores
    records = []
    for j, i in enumerate(todo):
        example = _example_of(prompts[i])
        group = rollouts[j * n : (j + 1) * n]
        if any(r.example.id != example.id for r in group):
            raise RuntimeError(
                f"the engine's rollouts are not grouped by prompt: expected {n} samples of {example.id!r}"
            )
        group_scores = scores[j * n : (j + 1) * n]
        ordered = sorted(zip(group, group_scores, strict=True), key=lambda rs: rs[0].sample_index)
        samples = tuple(
            SampleRecord.from_score(r.response_text, r.finish_reason, len(r.response_ids), s)
            for r, s in ordered
        )
        records.append(
            ProblemRecord(
                id=example.id,
                task=example.task,
                category=example_category(example),
                answer=example.answer,
                samples=samples,
                prompt=example.prompt,
                rendered_prompt=None if render is None else render(example),
                images=tuple(
                    image_reference(img, example.id, i) if images is None else images.reference(img)
                    for i, img in enumerate(example.images)
                ),
            )
        )
    return records


class _Progress:
    """Problems done and the running pass@1: a tqdm bar on a terminal, else one INFO line per chunk."""

    def __init__(self, name: str, total: int, initial: int, enabled: bool):
        self.name, self.total, self.done, self.enabled = name, total, initial, enabled
        self.started = time.perf_counter()
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, initial=initial, desc=f"{name}: problems", unit="problem", dynamic_ncols=True
            )

    def advance(self, count: int, finished: Iterable[ProblemRecord]) -> None:
        """``count`` more problems done; ``finished``: every problem done so far (for pass@1)."""
        scored = [p for p in finished if p.n > 0]
        pass1 = sum(p.c / p.n for p in scored) / len(scored) if scored else math.nan
        self.done += count
        if self._bar is not None:
            self._bar.set_postfix_str("pass@1 -" if math.isnan(pass1) else f"pass@1 {pass1:.3f}")
            self._bar.update(count)
        elif self.enabled:
            log.info(
                "%s: %d/%d problems (pass@1 so far %.3f), %.1f s",
                self.name,
                self.done,
                self.total,
                pass1,
                time.perf_counter() - self.started,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
