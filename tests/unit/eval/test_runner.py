"""evaluate_examples with a scripted engine and the real verifier path: counts, k checks, cache and resume."""

from __future__ import annotations

import dataclasses

import pytest

from mmrl.config import load_config
from mmrl.eval import CacheMismatch, EvalResult, SampleCache, evaluate_examples
from mmrl.rollout import Sampling
from rewards import RewardRunner
from tests.unit.eval.fakes import ScriptedEngine, math_example


@pytest.fixture(scope="module")
def runner():
    with RewardRunner(load_config(None, ["reward.num_workers=0"]).reward) as r:
        yield r


EXAMPLES = [math_example(i, category=f"level_{i % 3}") for i in range(10)]
SAMPLING = Sampling(temperature=0.6, top_p=0.95, max_new_tokens=32, seed=7)


def run(engine, runner, examples=EXAMPLES, **kwargs) -> EvalResult:
    kwargs = {"n": 4, "ks": [1, 2, 4], "sampling": SAMPLING, "chunk_size": 3, "progress": False, **kwargs}
    return evaluate_examples(examples, engine=engine, reward_runner=runner, **kwargs)


def test_generates_n_per_problem_in_chunks_and_scores_with_the_verifier(runner):
    engine = ScriptedEngine(accuracy=0.5)
    result = run(engine, runner)
    assert [len(c) for c in engine.calls] == [3, 3, 3, 1]
    assert [p.id for p in result.problems] == [e.id for e in EXAMPLES]
    for p in result.problems:
        assert len(p.samples) == 4 and p.n == 4
        for s in p.samples:  # the math verifier read the boxed answer
            assert s.correct == (s.extracted == p.answer)
    assert 0 < result.pass_at_k()[1] < 1
    assert result.pass_at_k()[1] <= result.pass_at_k()[2] <= result.pass_at_k()[4]
    assert set(result.metrics()["by_category"]) == {"level_0", "level_1", "level_2"}
    assert result.info["generated_problems"] == 10


def test_k_above_n_is_rejected_before_any_generation(runner):
    engine = ScriptedEngine()
    with pytest.raises(ValueError, match=r"k=\[8\] > n=4"):
        run(engine, runner, ks=[1, 8])
    assert engine.calls == []


def test_duplicate_ids_are_rejected_before_generation(runner):
    engine = ScriptedEngine()
    with pytest.raises(ValueError, match="more than once"):
        run(engine, runner, examples=[math_example(1), math_example(1)])
    assert engine.calls == []


def test_truncated_responses_are_wrong_and_counted(runner):
    result = run(ScriptedEngine(accuracy=1.0, truncate_every=2), runner)
    overall = result.metrics()["overall"]
    assert overall["truncated"] == pytest.approx(0.5)
    assert result.pass_at_k()[1] == pytest.approx(0.5)  # the truncated half has no answer


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_without_regenerating_finished_problems(runner, tmp_path):
    fingerprint = {"model": "scripted", "n": 4, "seed": 7}
    straight = run(ScriptedEngine(), runner)

    def stop_after_two_chunks(index, records):
        if index == 1:
            raise Interrupt

    first = ScriptedEngine()
    cache = SampleCache(tmp_path / "cache.jsonl", fingerprint)
    with pytest.raises(Interrupt):
        run(first, runner, cache=cache, on_chunk=stop_after_two_chunks)
    assert len(first.generated_ids) == 6

    second = ScriptedEngine()
    resumed = run(second, runner, cache=SampleCache(tmp_path / "cache.jsonl", fingerprint))
    assert second.generated_ids == [e.id for e in EXAMPLES[6:]]  # only the unfinished problems
    assert resumed.info["cached_problems"] == 6
    assert resumed.problems == straight.problems  # same seeds per chunk: the same samples
    assert resumed.metrics() == straight.metrics()

    third = ScriptedEngine()
    run(third, runner, cache=SampleCache(tmp_path / "cache.jsonl", fingerprint))
    assert third.calls == []  # everything cached


def test_cache_with_other_settings_is_refused(runner, tmp_path):
    path = tmp_path / "cache.jsonl"
    run(ScriptedEngine(), runner, cache=SampleCache(path, {"model": "a", "temperature": 0.6}))
    with pytest.raises(CacheMismatch, match=r"temperature: cached 0.6, now 1.0"):
        run(ScriptedEngine(), runner, cache=SampleCache(path, {"model": "a", "temperature": 1.0}))


def test_a_line_cut_by_a_crash_is_dropped_and_regenerated(runner, tmp_path):
    path = tmp_path / "cache.jsonl"
    fingerprint = {"model": "a"}
    run(ScriptedEngine(), runner, examples=EXAMPLES[:3], cache=SampleCache(path, fingerprint))
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # the last problem's line is cut mid-way
    engine = ScriptedEngine()
    result = run(engine, runner, examples=EXAMPLES[:3], cache=SampleCache(path, fingerprint))
    assert engine.generated_ids == ["p2"]
    assert len(result.problems) == 3
    assert len(SampleCache(path, fingerprint).load()) == 3


def test_cached_problems_outside_the_requested_set_are_ignored(runner, tmp_path):
    path = tmp_path / "cache.jsonl"
    run(ScriptedEngine(), runner, cache=SampleCache(path, {"m": 1}))
    engine = ScriptedEngine()
    result = run(engine, runner, examples=EXAMPLES[:4], cache=SampleCache(path, {"m": 1}))  # --limit 4
    assert engine.calls == [] and [p.id for p in result.problems] == ["p0", "p1", "p2", "p3"]


def test_cached_problems_with_another_n_are_generated_again(runner, tmp_path):
    path = tmp_path / "cache.jsonl"
    run(ScriptedEngine(), runner, examples=EXAMPLES[:3], cache=SampleCache(path, {"m": 1}))  # n = 4
    engine = ScriptedEngine()
    result = run(engine, runner, examples=EXAMPLES[:3], n=2, ks=[1, 2], cache=SampleCache(path, {"m": 1}))
    assert engine.generated_ids == ["p0", "p1", "p2"]
    assert all(len(p.samples) == 2 for p in result.problems)


def test_problems_keep_their_prompt_and_store_their_images_once(runner, tmp_path):
    from mmrl.data.image_store import ImageStore
    from mmrl.eval import read_samples, write_outputs
    from mmrl.testing import tiny_image

    examples = [
        dataclasses.replace(e, prompt=f"<image>{e.prompt}", images=(tiny_image(i % 2),))
        for i, e in enumerate(EXAMPLES[:4])
    ]
    result = run(ScriptedEngine(), runner, examples, images=ImageStore(tmp_path / "images"))
    assert [p.prompt for p in result.problems] == [e.prompt for e in examples]
    refs = [p.images for p in result.problems]
    assert all(len(r) == 1 and r[0].startswith("images/") for r in refs)
    assert refs[0] == refs[2] != refs[1]  # two distinct pictures: two files
    assert len(list((tmp_path / "images").iterdir())) == 2
    write_outputs([result], tmp_path, {"model": {"label": "m"}})
    [back] = read_samples(tmp_path / "samples.jsonl").values()
    assert [(p.prompt, p.images) for p in back] == [(p.prompt, p.images) for p in result.problems]
    assert (tmp_path / back[0].images[0]).is_file()


def test_progress_off_a_terminal_logs_each_chunk_with_the_running_pass_at_1(runner, caplog):
    with caplog.at_level("INFO", logger="mmrl.eval"):
        run(ScriptedEngine(accuracy=1.0), runner, progress=True, name="bench")
    lines = [r.getMessage() for r in caplog.records if "problems (pass@1 so far" in r.getMessage()]
    assert [line.split(" (")[0] for line in lines] == [f"bench: {k}/10 problems" for k in (3, 6, 9, 10)]
    assert "pass@1 so far 1.000" in lines[-1]


def test_progress_on_a_terminal_is_a_bar_showing_pass_at_1(runner, monkeypatch):
    import sys

    import tqdm.auto

    bars = []

    class Bar:
        def __init__(self, **kwargs):
            self.kwargs, self.postfix, self.n, self.closed = kwargs, [], kwargs.get("initial", 0), False
            bars.append(self)

        def set_postfix_str(self, text):
            self.postfix.append(text)

        def update(self, count):
            self.n += count

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run(ScriptedEngine(accuracy=1.0), runner, progress=True, name="bench")
    (bar,) = bars
    assert bar.kwargs["total"] == 10 and bar.n == 10 and bar.closed
    assert bar.postfix[-1] == "pass@1 1.000"


def test_cache_log_lines_say_what_is_left_to_generate(runner, tmp_path, caplog):
    cache = tmp_path / "cache.jsonl"
    fingerprint = {"model": "m"}

    def stop(index, records):
        if index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(ScriptedEngine(), runner, cache=SampleCache(cache, fingerprint), on_chunk=stop)
    with caplog.at_level("INFO", logger="mmrl.eval"):
        run(ScriptedEngine(), runner, cache=SampleCache(cache, fingerprint))
        run(ScriptedEngine(), runner, cache=SampleCache(cache, fingerprint))
    messages = [r.getMessage() for r in caplog.records if "cache" in r.getMessage()]
    assert messages == [
        "eval: 6 of 10 problems found in the cache; generating the other 4",
        "eval: all 10 problems found in the cache; nothing to generate",
    ]


def test_the_rendered_prompt_is_kept_with_each_problem(runner):
    result = run(ScriptedEngine(), runner, render=lambda example: f"<chat>{example.prompt}</chat>")
    problem = result.problems[0]
    assert problem.rendered_prompt == f"<chat>{EXAMPLES[0].prompt}</chat>"
    assert result.problems[0].to_dict()["rendered_prompt"] == problem.rendered_prompt
