"""vLLM test setup: in-process engine, a small CPU KV cache, vLLM's cache kept inside the project.

Set before any test imports vllm (vllm reads its environment at import). These tests run in the
``.venv-vllm`` virtualenv (``make test`` does it; see scripts/setup_vllm_venv.sh) and are skipped
where vllm cannot be imported.
"""

import os
from pathlib import Path

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_CACHE_ROOT", str(Path(__file__).resolve().parents[2] / ".cache" / "vllm"))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
