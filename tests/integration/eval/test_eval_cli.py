"""`mmrl eval` end to end on tiny models and fixture datasets: outputs, VL, resume, compare, k > n."""

from __future__ import annotations

import json
import struct

import pytest

from mmrl.cli import main
from mmrl.rollout.hf_engine import HFEngine
from mmrl.testing import save_tiny_text_model, save_tiny_vl_model, tiny_image

from ..train.helpers import write_logging_engine

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST = ["--engine", "hf", "--max-new-tokens", "8", "--reward-workers", "0", "--max-prompt-length", "1024"]


def assert_png(path, min_side=200):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= min_side and height >= min_side
    assert len(data) > 5000


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    save_tiny_text_model(root / "text_a", seed=0)
    save_tiny_text_model(root / "text_b", seed=1)
    data = root / "data"
    data.mkdir()
    gsm = [
        {
            "question": f"Tom has {i} apples and buys 2 more. How many apples?",
            "answer": f"{i} + 2\n#### {i + 2}",
        }
        for i in range(1, 5)
    ]
    (data / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gsm))
    return root


class CountingGenerate:
    """Wraps HFEngine.generate: counts calls and prompts, and raises on call ``fail_on`` (1-based)."""

    def __init__(self, fail_on: int | None = None):
        self.calls = 0
        self.prompts = 0
        self.fail_on = fail_on
        self.original = HFEngine.generate

    def install(self, monkeypatch) -> CountingGenerate:
        def generate(engine, prompts, n, sampling):
            self.calls += 1
            if self.fail_on is not None and self.calls == self.fail_on:
                raise RuntimeError("injected interruption")
            self.prompts += len(prompts)
            return self.original(engine, prompts, n, sampling)

        monkeypatch.setattr(HFEngine, "generate", generate)
        return self


def run_eval(workdir, out, *extra):
    return main(["eval", "--data-dir", str(workdir / "data"), "--output", str(out), *FAST, *extra])


def test_text_eval_writes_all_four_outputs_and_compare_overlays_two_runs(workdir, capsys):
    out_a, out_b = workdir / "out_a", workdir / "out_b"
    args = ["--benchmarks", "gsm8k,synthetic_arithmetic", "--n", "4", "--k", "1,2,4", "--limit", "3"]
    assert run_eval(workdir, out_a, "--model", str(workdir / "text_a"), *args) == 0
    assert "# mmrl eval report" in capsys.readouterr().out
    assert sorted(p.name for p in out_a.iterdir()) == [
        "cache",
        "passk.png",
        "report.md",
        "results.json",
        "samples.jsonl",
    ]

    doc = json.loads((out_a / "results.json").read_text())
    assert doc["model"]["label"] == "text_a" and len(doc["model"]["fingerprint"]) == 64
    assert doc["model"]["weight_files"] == ["model.safetensors"]
    assert (
        doc["sampling"]["temperature"] == 0.6
        and doc["sampling"]["top_p"] == 0.95
        and doc["sampling"]["n"] == 4
    )
    assert set(doc["benchmarks"]) == {"gsm8k", "synthetic_arithmetic"}
    gsm = doc["benchmarks"]["gsm8k"]
    assert gsm["info"]["split"] == "test" and gsm["info"]["rows"]["kept"] == 3
    assert set(gsm["metrics"]["overall"]["pass@k"]) == {"1", "2", "4"}
    assert [p["id"] for p in gsm["problems"]] == ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/2"]
    arith = doc["benchmarks"]["synthetic_arithmetic"]["metrics"]
    assert set(arith["by_category"]) == {"level_1", "level_2", "level_3"}  # difficulty levels

    rows = [json.loads(line) for line in (out_a / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 3 * 4  # benchmarks x problems x n
    assert {r["status"] for r in rows} <= {"ok", "unparsable_pred"}
    assert all(r["correct"] is (r["status"] == "ok" and r["reward"] >= 0.9) for r in rows)
    assert "| gsm8k | 3 |" in (out_a / "report.md").read_text()
    assert_png(out_a / "passk.png")

    assert run_eval(workdir, out_b, "--model", str(workdir / "text_b"), "--label", "seed1", *args) == 0
    capsys.readouterr()
    cmp_dir = workdir / "cmp"
    assert main(["eval", "compare", str(out_a), str(out_b), "--output", str(cmp_dir)]) == 0
    printed = capsys.readouterr().out
    assert "## gsm8k" in printed and "## synthetic_arithmetic" in printed
    assert "| text_a |" in printed and "| seed1 |" in printed
    assert (cmp_dir / "compare.md").read_text().strip() == printed.strip()
    assert_png(cmp_dir / "compare.png", min_side=400)  # two panels side by side


def test_interrupted_eval_resumes_without_regenerating_finished_problems(workdir, monkeypatch, capsys):
    out = workdir / "out_resume"
    args = ["--model", str(workdir / "text_a"), "--benchmarks", "gsm8k", "--n", "2", "--chunk-size", "1"]
    failing = CountingGenerate(fail_on=3).install(monkeypatch)  # problems 0 and 1 finish, call 3 dies
    with pytest.raises(RuntimeError, match="injected interruption"):
        run_eval(workdir, out, *args)
    assert failing.prompts == 2
    assert not (out / "results.json").exists()
    assert len((out / "cache" / "gsm8k.jsonl").read_text().splitlines()) == 1 + 2  # header + 2 problems

    monkeypatch.undo()
    resumed = CountingGenerate().install(monkeypatch)
    assert run_eval(workdir, out, *args) == 0
    assert (resumed.calls, resumed.prompts) == (2, 2)  # only problems 2 and 3
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["benchmarks"]["gsm8k"]["problems"]) == 4
    assert doc["benchmarks"]["gsm8k"]["info"]["cached_problems"] == 2

    monkeypatch.undo()
    again = CountingGenerate().install(monkeypatch)
    assert run_eval(workdir, out, *args) == 0
    assert again.calls == 0  # everything cached: outputs rewritten without generating

    # Other sampling settings must not reuse these samples.
    assert run_eval(workdir, out, *args, "--temperature", "1.0") == 1
    assert "temperature: cached 0.6, now 1.0" in capsys.readouterr().err

    # --restart discards the cache and samples every problem again with the new settings.
    monkeypatch.undo()
    restarted = CountingGenerate().install(monkeypatch)
    assert run_eval(workdir, out, *args, "--temperature", "1.0", "--restart") == 0
    assert (restarted.calls, restarted.prompts) == (4, 4)
    doc = json.loads((out / "results.json").read_text())
    assert doc["sampling"]["temperature"] == 1.0
    assert doc["benchmarks"]["gsm8k"]["info"]["cached_problems"] == 0
    header = json.loads((out / "cache" / "gsm8k.jsonl").read_text().splitlines()[0])
    assert header["fingerprint"]["sampling"]["temperature"] == 1.0


def test_k_above_n_is_rejected_before_loading_anything(workdir, monkeypatch, capsys):
    def never(*args, **kwargs):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr("mmrl.policy.load_policy", never)
    monkeypatch.setattr(HFEngine, "generate", never)
    out = workdir / "out_bad_k"
    code = run_eval(
        workdir, out, "--model", str(workdir / "text_a"), "--benchmarks", "gsm8k", "--n", "4", "--k", "1,8"
    )
    assert code == 1
    assert "k=[8] > n=4" in capsys.readouterr().err
    assert not out.exists()


def test_vision_model_on_a_geometry3k_fixture(tmp_path, capsys):
    model = save_tiny_vl_model(tmp_path / "vl", kind="qwen2_vl", seed=0)
    geo = tmp_path / "geo" / "geometry3k"
    geo.mkdir(parents=True)
    rows = []
    for i in range(2):
        tiny_image(seed=i, size=(56, 56)).save(geo / f"img{i}.png")
        rows.append({"images": [f"img{i}.png"], "problem": f"<image>Find x. Case {i}.", "answer": str(3 + i)})
    (geo / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    code = main(
        ["eval", "--model", str(model), "--benchmarks", "geometry3k", "--data-dir", str(tmp_path / "geo")]
        + ["--n", "2", "--output", str(out), *FAST]
    )
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "results.json").read_text())
    geo_result = doc["benchmarks"]["geometry3k"]
    assert geo_result["metrics"]["by_task"]["geometry"]["problems"] == 2
    assert geo_result["info"]["path"] == str(geo)
    assert len((out / "samples.jsonl").read_text().splitlines()) == 4
    assert_png(out / "passk.png")


def test_config_overrides_set_the_template_the_recipe_options_and_the_stop_strings(workdir, capsys):
    template = workdir / "short.jinja"
    template.write_text("Q: {{ question | trim }}\nA:")
    out = workdir / "out_overrides"
    args = [
        "--model",
        str(workdir / "text_a"),
        "--benchmarks",
        "synthetic_arithmetic",
        "--n",
        "2",
        "--limit",
        "3",
    ]
    # overrides before, between and after flags; a flag's value that looks like one stays the value
    code = run_eval(
        workdir,
        out,
        "data.options={difficulty: [4], num_examples: 64}",
        *args,
        "--template",
        str(template),
        'rollout.stop=["Q:"]',
    )
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    header = json.dumps(doc)
    assert '"stop": ["Q:"]' in header and "difficulty" in header
    assert "level_4" in header and "level_1" not in header
    # the cache is keyed by the options: other options are refused until --restart
    assert run_eval(workdir, out, "data.options={difficulty: [1], num_examples: 64}", *args) == 1
    assert "options" in capsys.readouterr().err
    assert run_eval(workdir, out, "data.options={difficulty: [1], num_examples: 64}", *args, "--restart") == 0
    assert "level_1" in (out / "results.json").read_text()
    capsys.readouterr()


def test_a_bad_override_names_the_field_before_the_model_loads(workdir, capsys):
    out = workdir / "out_bad_override"
    code = run_eval(
        workdir, out, "--model", str(workdir / "text_a"), "--benchmarks", "gsm8k", "rollout.temprature=0.5"
    )
    assert code == 2
    assert "rollout.temprature" in capsys.readouterr().err
    assert not (out / "results.json").exists()


def test_tasks_is_an_alias_of_benchmarks_and_samples_carry_the_rendered_prompt(workdir, capsys):
    out = workdir / "out_tasks"
    args = ["--model", str(workdir / "text_a"), "--tasks", "gsm8k", "--n", "1", "--limit", "2"]
    assert run_eval(workdir, out, *args) == 0
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["benchmark"] for r in rows] == ["gsm8k", "gsm8k"]
    question = "Tom has 1 apples and buys 2 more. How many apples?"
    assert question in rows[0]["rendered_prompt"]
    assert rows[0]["rendered_prompt"] != rows[0]["prompt"]  # the chat template's text, not the messages
    capsys.readouterr()


def _never_load(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr("mmrl.policy.load_policy", never)


def test_eval_and_other_overrides_take_effect(workdir, capsys):
    verifier = workdir / "always_right.py"
    verifier.write_text("def check(response, example):\n    return 1.0\n")
    template = workdir / "plain.jinja"
    template.write_text("Plain question: {{ question | trim }}\nAnswer:")
    out = workdir / "out_eval_overrides"
    code = main(
        ["eval", "--model", str(workdir / "text_a"), "--output", str(out), "--engine", "hf"]
        + ["--reward-workers", "0", "eval.recipe=synthetic_arithmetic", "eval.limit=2", "eval.n=3"]
        + ["eval.k=[1,3]", "eval.temperature=1.0", "rollout.max_new_tokens=4", f"data.template={template}"]
        + [f"reward.verifier={verifier}:check", "reward.score_truncated=true"]
    )
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "results.json").read_text())
    assert list(doc["benchmarks"]) == ["synthetic_arithmetic"]  # eval.recipe is the benchmark
    sampling = doc["sampling"]
    assert (sampling["n"], sampling["ks"], sampling["temperature"]) == (3, [1, 3], 1.0)
    assert sampling["max_new_tokens"] == 4
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 3  # eval.limit problems x eval.n samples
    assert all(r["tokens"] <= 4 for r in rows)
    assert all("Plain question: " in r["rendered_prompt"] for r in rows)  # data.template
    assert not any("Give the final answer" in r["rendered_prompt"] for r in rows)  # the recipe's own
    assert all(r["correct"] and r["reward"] == 1.0 for r in rows)  # the verifier, truncated ones scored
    capsys.readouterr()


def test_a_flag_and_an_override_that_disagree_are_an_error_naming_both(workdir, monkeypatch, capsys):
    _never_load(monkeypatch)
    out = workdir / "out_disagree"
    args = ["--model", str(workdir / "text_a"), "--benchmarks", "gsm8k"]
    assert run_eval(workdir, out, *args, "--n", "2", "eval.n=4", "eval.k=[1,4]") == 2
    assert "--n 2 and eval.n=4 disagree" in capsys.readouterr().err
    assert run_eval(workdir, out, *args, "--strict", "eval.on_bad_row=skip") == 2
    assert "--strict and eval.on_bad_row=skip disagree" in capsys.readouterr().err
    assert run_eval(workdir, out, *args, "eval.temperature=0.5", "rollout.temperature=1.0") == 2
    assert "eval.temperature=0.5 and rollout.temperature=1.0 set the same thing" in capsys.readouterr().err
    assert run_eval(workdir, out, *args, "--template", "a.jinja", "data.template=b.jinja") == 2
    assert "--template a.jinja and data.template=b.jinja disagree" in capsys.readouterr().err
    assert run_eval(workdir, out, "--model", str(workdir / "text_a"), "--benchmarks", "gsm8k,math500",
                    "eval.split=test") == 2  # fmt: skip
    assert "eval.split=test describes the held-out set of one benchmark" in capsys.readouterr().err
    assert not out.exists()


def test_overrides_an_evaluation_does_not_use_are_refused(workdir, monkeypatch, capsys):
    _never_load(monkeypatch)
    out = workdir / "out_refused"
    args = ["--model", str(workdir / "text_a"), "--benchmarks", "gsm8k"]
    code = run_eval(
        workdir, out, *args, "trainer.max_steps=3", "algorithm.name=rloo", "rollout.n=4", "eval.every=2"
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "trainer.max_steps=3 is not used by mmrl eval: mmrl eval trains nothing" in err
    assert "algorithm.name=rloo is not used by mmrl eval" in err
    assert "rollout.n=4 is not used by mmrl eval" in err and "--n (eval.n)" in err
    assert "eval.every=2 is not used by mmrl eval" in err
    assert run_eval(workdir, out, *args, "model.path=other") == 2
    assert "use --model" in capsys.readouterr().err
    assert not out.exists()


def test_eval_is_quiet_unless_verbose(workdir, capfd):
    out = workdir / "out_quiet"
    args = ["--model", str(workdir / "text_a"), "--benchmarks", "gsm8k", "--n", "1", "--limit", "1"]
    assert run_eval(workdir, out, *args) == 0
    assert "Loading weights" not in capfd.readouterr().err
    assert run_eval(workdir, out, *args, "--verbose") == 0
    assert "Loading weights" in capfd.readouterr().err


def test_an_engine_of_ones_own_and_a_misspelt_one(workdir, tmp_path, monkeypatch, capsys):
    args = ["--model", str(workdir / "text_a"), "--benchmarks", "gsm8k", "--n", "2", "--limit", "2"]
    engine = ["--engine", write_logging_engine(tmp_path)]
    assert run_eval(workdir, tmp_path / "out", *args, *engine) == 0
    assert (tmp_path / "generate_calls.txt").read_text().split("\n")[0] == "2 x 2"
    capsys.readouterr()
    _never_load(monkeypatch)
    assert run_eval(workdir, tmp_path / "out_typo", *args, "--engine", "vlm") == 2
    assert "unknown rollout engine 'vlm' (did you mean 'vllm'?)" in capsys.readouterr().err
