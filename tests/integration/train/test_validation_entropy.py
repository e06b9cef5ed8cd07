"""Held-out entropy in validation: the policy's token entropy on its own sampled responses."""

from __future__ import annotations

import math

import torch

from mmrl.config import load_config
from mmrl.policy import TextPolicy
from mmrl.rollout import HFEngine, Sampling
from mmrl.testing import tiny_text_model
from mmrl.train.validation import response_entropy, validate
from mmrl.types import Example, Score


class EveryOtherRunner:
    def score(self, responses, examples, truncated, lengths=None):
        from rewards import RunnerResult

        scores = [Score(float(i % 2), correct=bool(i % 2)) for i, _ in enumerate(responses)]
        return RunnerResult(scores, {"total": len(scores)})


def _examples(k):
    return [Example(f"q{i}", "math", f"What is {i} plus {i}?", str(2 * i)) for i in range(k)]


def _by_hand(policy, rollouts, temperature):
    """Entropy from the full logits, one sequence at a time, no padding: sum_t -sum_v p log p."""
    total, count = 0.0, 0
    with torch.no_grad():
        for r in rollouts:
            ids = torch.tensor([list(r.prompt_ids) + list(r.response_ids)])
            logits = policy.model(input_ids=ids).logits[0].double() / temperature
            p = len(r.prompt_ids)
            for t in range(len(r.response_ids)):
                logp = torch.log_softmax(logits[p - 1 + t], dim=-1)
                total += float(-(logp.exp() * logp).sum())
                count += 1
    return total, count


def test_response_entropy_matches_the_full_softmax_by_hand():
    model, tok = tiny_text_model(0)
    policy = TextPolicy(model, tok)
    prompts, _ = policy.prepare(_examples(3))
    rollouts = HFEngine(policy).generate(prompts, 2, Sampling(temperature=0.8, max_new_tokens=6, seed=1))
    total, count = response_entropy(policy, rollouts, 0.8, rows_per_pass=4)
    want_total, want_count = _by_hand(policy, rollouts, 0.8)
    assert count == want_count == sum(len(r.response_ids) for r in rollouts) > 0
    assert math.isclose(total, want_total, rel_tol=1e-4)
    # a uniform policy has entropy log(V); a sharper temperature lowers it
    assert 0 < total / count < math.log(model.config.vocab_size)
    assert response_entropy(policy, rollouts, 0.3, rows_per_pass=4)[0] < total


def test_validate_reports_entropy_unless_turned_off():
    model, tok = tiny_text_model(0)
    policy = TextPolicy(model, tok)
    engine = HFEngine(policy)
    cfg = load_config(None, ["eval.n=2", "eval.k=[1, 2]", "rollout.max_new_tokens=6", "eval.temperature=0.9"])
    result = validate(policy, engine, EveryOtherRunner(), _examples(4), cfg.eval, cfg.rollout, seed=3)
    assert result.info["entropy_tokens"] > 0 and 0 < result.info["entropy"] < math.log(
        model.config.vocab_size
    )
    off = load_config(None, ["eval.n=2", "eval.k=[1, 2]", "rollout.max_new_tokens=6", "eval.entropy=false"])
    result = validate(policy, engine, EveryOtherRunner(), _examples(4), off.eval, off.rollout, seed=3)
    assert "entropy" not in result.info
