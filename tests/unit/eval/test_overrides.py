"""What each `a.b=c` override means to `mmrl eval`: the field of a flag, the held-out set, a field
applied as given, or a field an evaluation does not use (refused)."""

from __future__ import annotations

import dataclasses

import pytest

from mmrl.config import Config, ConfigError, EvalConfig, field_docs
from mmrl.eval.benchmarks import BenchmarkSpec
from mmrl.eval.overrides import (
    _ALIASES,
    _HELD_OUT,
    FLAG_FIELDS,
    REFUSED,
    held_out_benchmarks,
    resolve_overrides,
)
from mmrl.eval.suite import EvalOptions

GSM8K = (BenchmarkSpec("gsm8k", "gsm8k"),)


def resolve(*overrides, **flags):
    explicit = frozenset(flags)
    return resolve_overrides(EvalOptions("m", GSM8K, overrides=overrides, explicit=explicit, **flags))


def test_the_fields_of_flags_set_those_options():
    resolved = resolve(
        "eval.n=4",
        "eval.k=[1,4]",
        "eval.limit=3",
        "eval.temperature=1",
        "eval.top_p=0.5",
        "rollout.max_new_tokens=32",
        "eval.on_bad_row=fail",
        "reward.verifier=math",
        "reward.num_workers=0",
        "data.template=t.jinja",
    )
    opts = resolved.opts
    assert (opts.n, opts.ks, opts.limit) == (4, (1, 4), 3)
    assert (opts.temperature, opts.top_p, opts.max_new_tokens) == (1.0, 0.5, 32)  # typed: 1 -> 1.0
    assert (opts.on_bad_row, opts.verifier, opts.reward_workers, opts.template) == (
        "fail",
        "math",
        0,
        "t.jinja",
    )
    assert resolved.origin["ks"] == "eval.k=[1,4]"  # errors about k name the override typed
    assert resolved.tree == []  # nothing left to apply as given


def test_a_section_given_as_a_mapping_counts_as_its_fields():
    resolved = resolve("rollout={top_k: 20, stop: ['Q:']}", "data.options={difficulty: [2]}")
    assert resolved.opts.top_k == 20
    assert resolved.tree == [("rollout.stop", ["Q:"]), ("data.options", {"difficulty": [2]})]


def test_a_typed_flag_and_an_override_with_another_value_are_an_error_naming_both():
    with pytest.raises(ConfigError, match=r"--n 2 and eval\.n=4 disagree"):
        resolve("eval.n=4", n=2)
    with pytest.raises(ConfigError, match=r"--k 1,2 and eval\.k=\[1,4\] disagree"):
        resolve("eval.k=[1,4]", ks=(1, 2))
    with pytest.raises(ConfigError, match=r"--strict and eval\.on_bad_row=skip disagree"):
        resolve("eval.on_bad_row=skip", on_bad_row="fail")
    with pytest.raises(ConfigError, match=r"--max-new-tokens 8 and rollout\.max_new_tokens=16 disagree"):
        resolve("rollout.max_new_tokens=16", max_new_tokens=8)
    assert resolve("eval.n=4", n=4).opts.n == 4  # the same value twice is no disagreement


def test_without_explicit_a_field_that_differs_from_its_default_counts_as_typed():
    with pytest.raises(ConfigError, match="--temperature 1.0 and eval.temperature=0.5"):
        resolve_overrides(EvalOptions("m", GSM8K, temperature=1.0, overrides=("eval.temperature=0.5",)))
    opts = resolve_overrides(EvalOptions("m", GSM8K, overrides=("eval.temperature=0.5",))).opts
    assert opts.temperature == 0.5 and opts.explicit == frozenset()


def test_two_overrides_of_one_thing_must_agree():
    with pytest.raises(
        ConfigError, match="eval.temperature=0.5 and rollout.temperature=1.0 set the same thing"
    ):
        resolve("eval.temperature=0.5", "rollout.temperature=1.0")
    with pytest.raises(ConfigError, match=r"eval\.options=\{difficulty: \[2\]\} and data\.options="):
        resolve("eval.options={difficulty: [2]}", "data.options={difficulty: [3]}")
    assert resolve("eval.options={difficulty: [2]}").tree == [("data.options", {"difficulty": [2]})]
    assert resolve("rollout.temperature=0.3", "rollout.temperature=0.4").opts.temperature == 0.4  # later wins


def test_a_none_that_means_the_other_field_changes_nothing():
    resolved = resolve("eval.max_new_tokens=null", "rollout.max_new_tokens=32", "eval.options=null")
    assert resolved.opts.max_new_tokens == 32 and resolved.tree == []


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ("trainer.max_steps=3", "mmrl eval trains nothing"),
        ("trainer.seed=1", "--seed"),
        ("algorithm.name=rloo", "trains nothing"),
        ("algorithm.a_grae.alpha=0.3", "trains nothing"),
        ("logging.level=DEBUG", "--verbose"),
        ("model.path=x", "use --model"),
        ("model.lora.rank=8", "weights as saved"),
        ("data.recipe=gsm8k", "--benchmarks NAME"),
        ("data.split=test", "--benchmarks NAME:SPLIT"),
        ("data.path=/d", "--path NAME=PATH"),
        ("rollout.n=4", "--n (eval.n)"),
        ("rollout.vllm.weight_sync=load_weights", "training sends new weights"),
        ("eval.every=2", "evaluates once"),
        ("eval.entropy=false", "in-training validation only"),
    ],
)
def test_fields_an_evaluation_does_not_use_are_refused_with_what_to_use(override, why):
    with pytest.raises(ConfigError) as info:
        resolve(override)
    assert f"{override} is not used by mmrl eval" in str(info.value) and why in str(info.value)


def test_refusals_are_all_listed_and_a_mapping_names_the_field():
    with pytest.raises(ConfigError) as info:
        resolve("trainer.max_steps=3", "rollout={n: 2, top_k: 5}")
    assert len(info.value.errors) == 2
    assert "rollout={n: 2, top_k: 5} (rollout.n) is not used by mmrl eval" in info.value.errors[1]


def test_an_unknown_field_is_named_as_mmrl_train_names_it():
    with pytest.raises(ConfigError, match="did you mean 'rollout.temperature'"):
        resolve("rollout.temprature=0.5")


def test_every_eval_field_has_a_meaning_for_mmrl_eval():
    # a new eval.* field must take effect in mmrl eval (a flag's field, the held-out set, an alias)
    # or be refused with a reason: never silently ignored
    known = set(FLAG_FIELDS) | set(_ALIASES) | set(_HELD_OUT) | set(REFUSED)
    assert sorted({f"eval.{f.name}" for f in dataclasses.fields(EvalConfig)} - known) == []


#: Fields mmrl eval reads from the config tree as overrides give them (no flag sets them).
READ_AS_GIVEN = {
    "model.tokenizer_path",
    "model.attn_implementation",
    "model.trust_remote_code",
    "data.columns",
    "data.options",
    "data.on_bad_row",
    "data.max_bad_fraction",
    "data.allow_remote_images",
    "data.image_root",
    "data.allow_outside_paths",
    "data.max_image_bytes",
    "rollout.stop",
    "rollout.hf_cache",
    "rollout.vllm.tensor_parallel_size",
    "rollout.vllm.max_model_len",
    "rollout.vllm.enforce_eager",
    "rollout.vllm.dtype",
}


def test_every_field_of_the_sections_eval_reads_is_classified():
    # model, data, rollout: each field is a flag's, refused, or read as given (reward.* is all read)
    def refused(path):
        return any(path == p or path.startswith(p + ".") for p in REFUSED)

    sections = {"model", "data", "rollout"}
    leaves = [p for p in field_docs() if p.split(".")[0] in sections and not _is_section(p)]
    unclassified = [p for p in leaves if p not in FLAG_FIELDS and p not in READ_AS_GIVEN and not refused(p)]
    assert unclassified == []


def _is_section(path):
    node = Config()
    for part in path.split("."):
        node = getattr(node, part)
    return dataclasses.is_dataclass(node)


def test_the_held_out_set_is_one_benchmark():
    overrides = ["eval.recipe=gsm8k", "eval.split=test", "eval.path=/d/g.jsonl"]
    assert held_out_benchmarks(None, {}, overrides) == ("gsm8k:test", {"gsm8k": "/d/g.jsonl"})
    assert held_out_benchmarks("gsm8k", {}, ["eval.split=train"]) == ("gsm8k:train", {})
    assert held_out_benchmarks("gsm8k,math500", {}, []) == ("gsm8k,math500", {})  # nothing to fill in
    with pytest.raises(ConfigError, match="--benchmarks math500 and eval.recipe=gsm8k disagree"):
        held_out_benchmarks("math500", {}, ["eval.recipe=gsm8k"])
    with pytest.raises(ConfigError, match="--benchmarks gsm8k:train and eval.split=test disagree"):
        held_out_benchmarks("gsm8k:train", {}, ["eval.split=test"])
    with pytest.raises(ConfigError, match="--path gsm8k=/a and eval.path=/b disagree"):
        held_out_benchmarks("gsm8k", {"gsm8k": "/a"}, ["eval.path=/b"])
    with pytest.raises(ConfigError, match="one benchmark, and --benchmarks lists 2"):
        held_out_benchmarks("gsm8k,math500", {}, ["eval.split=test"])


def test_a_held_out_set_that_is_not_the_benchmark_evaluated_is_an_error():
    # run_eval called directly, without held_out_benchmarks: the two must agree
    assert resolve_overrides(EvalOptions("m", (BenchmarkSpec("gsm8k:test", "gsm8k", "test"),),
                                         overrides=("eval.split=test",))).tree == []  # fmt: skip
    with pytest.raises(ConfigError, match=r"eval\.recipe=math500 does not describe the benchmarks evaluated"):
        resolve("eval.recipe=math500")
