"""metrics.jsonl (resume truncation, NaN kept visible), rollout records, the non-finite guard."""

import json
import math

import pytest
import torch

from mmrl.config import load_config
from mmrl.errors import UserError
from mmrl.train.metrics import MetricsLogger, PhaseTimer, image_reference, rollout_records, write_rollouts
from mmrl.train.stages import NonFiniteGuard, guarded_optimizer_step
from mmrl.train.trainer import rollout_seed
from mmrl.types import Example, Rollout, Score


def _logger(tmp_path, resume_step=None):
    cfg = load_config(None, ["logging.tensorboard=false"])
    return MetricsLogger(tmp_path, cfg.logging, enabled=True, resume_step=resume_step)


def test_metrics_lines_and_resume_truncation(tmp_path):
    logger = _logger(tmp_path)
    for step in (1, 2, 3):
        logger.log(step, {"loss": 0.5 * step, "grad_norm": math.nan})
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3] and lines[0]["grad_norm"] == "nan"
    # a crash after step 3, resumed from the checkpoint of step 2: step 3 is logged again, once
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 4, "lo')  # cut by the crash
    logger = _logger(tmp_path, resume_step=2)
    logger.log(3, {"loss": 9.0})
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(x["step"], x["loss"]) for x in lines] == [(1, 0.5), (2, 1.0), (3, 9.0)]
    # a fresh start keeps the old file aside instead of mixing runs
    _logger(tmp_path).log(1, {"loss": 1.0})
    assert (tmp_path / "metrics.jsonl.prev").is_file()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_disabled_logger_writes_nothing(tmp_path):
    cfg = load_config(None, [])
    MetricsLogger(tmp_path / "x", cfg.logging, enabled=False).log(1, {"loss": 1.0})
    assert not (tmp_path / "x").exists()


def test_phase_timer_accumulates():
    timer = PhaseTimer()
    for _ in range(2):
        with timer("score"):
            pass
    assert set(timer.metrics()) == {"time/score"} and timer.metrics()["time/score"] >= 0


def test_rollout_records_hold_what_a_reader_needs(tmp_path):
    from PIL import Image

    ex = Example("ex/1", "math", "2+2?", "4", images=(Image.new("RGB", (8, 6)), "figs/a.png"))
    rollout = Rollout(ex, 0, (1, 2), (3, 4), "The answer is 4.", "stop")
    score = Score(1.0, True, extracted="4")
    [record] = rollout_records([rollout], [score], [0.9], [0.5], step=7)
    assert record["images"] == ["ex/1#image0 8x6", "figs/a.png"]
    assert (record["response"], record["status"], record["correct"], record["extracted"]) == (
        "The answer is 4.",
        "ok",
        True,
        "4",
    )
    assert (record["verifier_reward"], record["reward"], record["advantage"], record["step"]) == (
        1.0,
        0.9,
        0.5,
        7,
    )
    path = write_rollouts(tmp_path, 7, [record])
    assert path.name == "step_7.jsonl" and json.loads(path.read_text())["example_id"] == "ex/1"
    with pytest.raises(ValueError, match="as many"):
        rollout_records([rollout], [], [], [], step=1)
    assert image_reference("x.png", "e", 0) == "x.png"


def test_rollout_images_are_stored_once_per_example_and_referenced_from_the_rollouts_dir(tmp_path):
    from mmrl.testing import tiny_image
    from mmrl.train.metrics import rollout_images

    ex = Example("ex/1", "geometry", "<image>Area?", "4", images=(tiny_image(0),))
    rollouts = [Rollout(ex, i, (1,), (2,), f"answer {i}", "stop") for i in range(3)]
    scores = [Score(1.0, True)] * 3
    records = rollout_records(rollouts, scores, [1.0] * 3, [0.0] * 3, step=1, images=rollout_images(tmp_path))
    later = rollout_records(rollouts[:1], scores[:1], [1.0], [0.0], step=9, images=rollout_images(tmp_path))
    refs = {tuple(r["images"]) for r in records + later}
    assert len(refs) == 1  # every sample, every step: the same file
    [ref] = next(iter(refs))
    path = write_rollouts(tmp_path, 1, records)
    assert ref.startswith("images/") and (path.parent / ref).is_file()
    assert len(list((tmp_path / "rollouts" / "images").iterdir())) == 1


def test_guard_counts_and_aborts_after_k_in_a_row():
    guard = NonFiniteGuard(limit=2)
    guard.record(1, 1)
    guard.check(1)
    guard.record(2, 0)  # a good step resets the streak
    guard.record(3, 1)
    guard.check(3)
    assert (guard.total, guard.consecutive) == (2, 1)
    guard.record(4, 2)
    with pytest.raises(UserError, match=r"2 steps in a row \(steps 3-4\).*max_consecutive_nonfinite=2"):
        guard.check(4)
    restored = NonFiniteGuard(limit=2)
    restored.load_state_dict(guard.state_dict())
    assert restored.state_dict() == guard.state_dict()


def test_guarded_step_skips_non_finite_and_leaves_parameters_and_state_alone():
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    model, opt = acc.prepare(model, opt)
    before = [p.detach().clone() for p in model.parameters()]
    (model(torch.ones(1, 3)).sum() * math.nan).backward()
    applied, norm = guarded_optimizer_step(acc, model, opt, math.nan, 1.0)
    assert not applied and math.isnan(norm)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters()) and not opt.state_dict()["state"]
    model(torch.ones(1, 3)).sum().backward()
    applied, norm = guarded_optimizer_step(acc, model, opt, 1.0, 1.0)
    assert applied and math.isfinite(norm)
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_rollout_seeds_differ_by_step_round_and_rank():
    seeds = {rollout_seed(5, s, r, k) for s in range(1, 4) for r in range(3) for k in range(4)}
    assert len(seeds) == 36
    assert rollout_seed(5, 2, 0, 0) == rollout_seed(5, 2, 0, 0)
