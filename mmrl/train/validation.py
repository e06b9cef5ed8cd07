"""In-training validation: the held-out split, sampled and scored by the same path as ``mmrl eval``.

``validate`` is ``mmrl.eval.evaluate_examples`` on the run's live policy and engine: ``eval.n``
samples per problem with ``eval.temperature``/``eval.top_p``, scored by the run's
``rewards.RewardRunner``, pass@k with the unbiased estimator for every ``k`` in ``eval.k``, overall,
per task and per category. Every validation of a run uses the same problems and the same sampling
seed, so two validations differ only by the weights (common random numbers: the before/after
comparison is not blurred by sampling noise more than it must be).

Under data parallelism each rank evaluates its share of the problems and the main process merges
the records.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmrl.data import LoadedData, load_examples
from mmrl.data.image_store import IMAGES_DIR, ImageStore
from mmrl.eval import EvalResult, evaluate_examples
from mmrl.rollout import Sampling
from mmrl.train.sampler import shard_for_rank
from mmrl.train.watchdog import collective

log = logging.getLogger(__name__)

__all__ = ["load_eval_examples", "response_entropy", "validate", "validation_images"]


def load_eval_examples(cfg: Any) -> LoadedData:
    """The held-out problems of ``cfg.eval`` (recipe, path, options and template fall back to
    ``cfg.data``'s when ``eval.recipe`` is unset or the same recipe); ``eval.on_bad_row=fail``
    refuses any bad row."""
    e, d = cfg.eval, cfg.data
    same = e.recipe is None or e.recipe == d.recipe
    return load_examples(
        e.recipe or d.recipe,
        split=e.split,
        path=e.path if e.path is not None else (d.path if same else None),
        options=e.options if e.options is not None else (d.options if same else {}),
        template=d.template if same else None,
        columns=d.columns if same else {},
        limit=e.limit,
        on_bad_row="fail" if e.on_bad_row == "fail" else d.on_bad_row,
        max_bad_fraction=d.max_bad_fraction,
        allow_remote_images=d.allow_remote_images,
        image_root=d.image_root,
        allow_outside_paths=d.allow_outside_paths,
        max_image_bytes=d.max_image_bytes,
    )


def validation_images(run_dir: str | Path, step: int) -> ImageStore:
    """Where validation images go: ``validation/images/``, one folder for every validation of the
    run (they show the same problems), referenced from ``validation/step_N/samples.jsonl``."""
    root = Path(run_dir) / "validation"
    return ImageStore(root / IMAGES_DIR, relative_to=root / f"step_{step}")


def validate(
    policy: Any,
    engine: Any,
    runner: Any,
    examples: Any,
    eval_cfg: Any,
    rollout_cfg: Any,
    *,
    seed: int,
    accelerator: Any = None,
    name: str = "val",
    progress: bool = False,
    images: ImageStore | None = None,
) -> EvalResult | None:
    """Sample, score and measure the held-out problems; the result on the main process, else ``None``.

    Prompts over ``data.max_prompt_length`` are left out and listed in ``EvalResult.dropped``.
    Problems go to the engine in chunks that fill one generation batch (``rollout.batch_size``
    sequences); with ``progress`` a bar with the running pass@1 (a log line off a terminal) follows
    them. ``images`` (``validation_images(run_dir, step)``) stores the problems' images as files.
    """
    rank, world = (0, 1) if accelerator is None else (accelerator.process_index, accelerator.num_processes)
    kept, dropped = policy.prepare(shard_for_rank(list(examples), rank, world))
    sampling = Sampling.from_eval(eval_cfg, rollout_cfg, seed=seed)
    problems, entropy = [], (0.0, 0)
    if kept:
        shown = progress and rank == 0  # one bar, on the main process
        problems, entropy = _evaluate_shard(
            policy, engine, runner, kept, eval_cfg, rollout_cfg, sampling, name, shown, images
        )
    dropped_rows = [{"id": d.id, "reason": d.reason, "message": d.message} for d in dropped]
    if world > 1:
        from accelerate.utils import gather_object

        with collective("the gather of the validation results", rank):
            problems = gather_object(problems)
            dropped_rows = gather_object(dropped_rows)
            parts = gather_object([entropy])
        entropy = (sum(p[0] for p in parts), sum(p[1] for p in parts))
    if accelerator is not None and not accelerator.is_main_process:
        return None
    if not problems:
        raise ValueError(
            f"{name}: every held-out problem was over data.max_prompt_length; nothing to evaluate"
        )
    order = {ex.id: i for i, ex in enumerate(examples)}
    problems = sorted(problems, key=lambda p: order.get(p.id, len(order)))
    out = EvalResult(name=name, n=eval_cfg.n, ks=tuple(eval_cfg.k), problems=problems, dropped=dropped_rows)
    out.info.update(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_new_tokens=sampling.max_new_tokens,
        seed=seed,
    )
    if entropy[1]:
        out.info["entropy"] = entropy[0] / entropy[1]
        out.info["entropy_tokens"] = entropy[1]
    return out


def _evaluate_shard(
    policy: Any,
    engine: Any,
    runner: Any,
    kept: list[Any],
    eval_cfg: Any,
    rollout_cfg: Any,
    sampling: Sampling,
    name: str,
    progress: bool,
    images: ImageStore | None,
) -> tuple[list[Any], tuple[float, int]]:
    """This rank's problem records and ``(entropy sum, tokens)`` (zero when ``eval.entropy`` is off).
    Problems go to the engine in chunks that fill one generation batch."""
    rollouts: list[Any] = []
    result = evaluate_examples(
        kept,
        engine=engine,
        n=eval_cfg.n,
        ks=eval_cfg.k,
        sampling=sampling,
        reward_runner=runner,
        progress=progress,
        name=name,
        chunk_size=max(1, rollout_cfg.batch_size // eval_cfg.n),
        images=images,
        on_rollouts=rollouts.extend if eval_cfg.entropy else None,
        render=policy.render,
    )
    entropy = (0.0, 0)
    if rollouts:
        entropy = response_entropy(policy, rollouts, sampling.logprob_temperature, rollout_cfg.batch_size)
    return result.problems, entropy


def response_entropy(
    policy: Any, rollouts: Sequence[Any], temperature: float, rows_per_pass: int = 64
) -> tuple[float, int]:
    """``(sum of H_t, number of tokens)`` over the response tokens of ``rollouts`` under ``policy``:
    ``H_t = -sum_v p_t(v) log p_t(v)`` with ``p_t = softmax(z_t / temperature)``, the distribution
    the response token ``t`` was sampled from (no gradient; ``rows_per_pass`` sequences at a time).
    The mean token entropy is the first number over the second."""
    import torch

    total, count = 0.0, 0
    was_training = policy.model.training
    policy.model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(rollouts), max(1, rows_per_pass)):
                chunk = [r for r in rollouts[start : start + rows_per_pass] if len(r.response_ids)]
                if not chunk:
                    continue
                batch = policy.collate(chunk)
                _, entropy = policy.logprobs(batch, temperature=temperature, with_entropy=True)
                mask = batch.response_mask.to(entropy.device).bool()
                total += float(entropy[mask].double().sum())
                count += int(mask.sum())
    finally:
        policy.model.train(was_training)
    return total, count
