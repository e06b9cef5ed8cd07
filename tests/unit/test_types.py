"""Core records: Example normalises sequences; Score refuses contradictory verdicts."""

import pytest

from mmrl.types import Example, Rollout, Score


def test_example_stores_tuples_and_reports_images():
    ex = Example(id="1", task="math", prompt="2+2?", answer="4", images=["a.png"], choices=["3", "4"])
    assert ex.images == ("a.png",) and ex.choices == ("3", "4") and ex.has_images
    assert not Example(id="2", task="math", prompt="x", answer="1").has_images


def test_rollout_truncated_flag():
    ex = Example(id="1", task="math", prompt="2+2?", answer="4")
    r = Rollout(ex, 0, (1, 2), (3,), "4", "length")
    assert r.truncated and not Rollout(ex, 1, (1, 2), (3,), "4", "stop").truncated


def test_score_rules():
    assert Score(1.0, True).scorable
    assert Score(0.0, False, status="unparsable_pred").reward == 0.0
    assert not Score(None, None, status="timeout").scorable
    with pytest.raises(ValueError, match="must have reward=None"):
        Score(0.0, None, status="unparsable_gold")
    with pytest.raises(ValueError, match="must have reward=None"):
        Score(1.0, None, status="error")
    assert Score(0.0, False, status="timeout").reward == 0.0  # only under reward.on_failure=zero
    with pytest.raises(ValueError, match="needs a float reward"):
        Score(None, None, status="ok")
    with pytest.raises(ValueError, match="must be one of"):
        Score(1.0, True, status="fine")  # type: ignore[arg-type]
