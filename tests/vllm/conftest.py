"""vLLM test setup: in-process engine, a small CPU KV cache, vLLM's cache kept inside the project.

The variables are set before any test imports vllm (vllm reads its environment at import). These
tests run in a pytest process of their own (``make test-vllm``, part of ``make test``) and are
skipped where vllm cannot be imported, except under ``MMRL_REQUIRE_VLLM=1`` (CI), where a missing
vllm is a broken install and stops the run.
"""

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_CACHE_ROOT", str(Path(__file__).resolve().parents[2] / ".cache" / "vllm"))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

if os.environ.get("MMRL_REQUIRE_VLLM") == "1" and importlib.util.find_spec("vllm") is None:
    raise pytest.UsageError("MMRL_REQUIRE_VLLM=1 but vllm cannot be imported; rerun scripts/setup_venv.sh")
