"""What this machine runs fastest: the one place where the ``auto`` settings are decided.

* ``rollout.engine: auto`` is ``vllm`` where vLLM is installed (``pip install 'mmrl[vllm]'`` on
  a GPU machine; ``make setup`` installs the CPU build on Linux x86-64), else ``hf``.
* ``trainer.mixed_precision: auto`` is ``bf16`` where bfloat16 matrix products are fast: a CUDA
  GPU that supports bfloat16, or a CPU with AVX512-BF16 or AMX instructions (measured on a
  2-core AVX512-BF16 CPU: a 1024x576x1536 product runs at 856 GFLOP/s in bf16 vs 194 in
  float32); ``no`` otherwise. The weights stay float32 (the master copy the optimizer updates);
  forward and backward run under bf16 autocast.
* ``model.dtype: auto`` is float32 for a policy that trains under mixed precision (the master
  weights), and bfloat16 for a model that only generates (evaluation, the vLLM engine) where
  bf16 is fast.

* ``trainer.retain_cpu_memory: true`` (CPU runs under glibc): memory a step frees stays in the
  process for the next step instead of going back to the OS (``retain_freed_memory``).

Each resolution returns the choice and the reason, which the trainer and ``mmrl eval`` log.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import platform
from pathlib import Path

import torch

__all__ = [
    "cpu_has_fast_bf16",
    "fast_bf16",
    "retain_freed_memory",
    "resolve_engine",
    "resolve_inference_dtype",
    "resolve_micro_batch_size",
    "resolve_mixed_precision",
    "vllm_installed",
]


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AVX512-BF16 or AMX-BF16)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        if any(getattr(torch.cpu, name)() for name in probes if hasattr(torch.cpu, name)):
            return True
    except RuntimeError:  # pragma: no cover - torch built without the probes
        pass
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fast_bf16(device: torch.device | str) -> bool:
    """Whether bfloat16 matrix products are fast on ``device`` (a CUDA GPU or the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_has_fast_bf16()
    return False


def resolve_mixed_precision(setting: str, device: torch.device | str) -> tuple[str, str]:
    """``trainer.mixed_precision`` as accelerate's value (``no``, ``bf16``, ``fp16``) and why."""
    if setting != "auto":
        return setting, "set in the config"
    device = torch.device(device)
    if fast_bf16(device):
        what = "this GPU" if device.type == "cuda" else "this CPU (AVX512-BF16/AMX)"
        return "bf16", f"auto: {what} runs bfloat16 matrix products fast; float32 master weights"
    return "no", f"auto: bfloat16 is not fast on {device.type} here; float32 throughout"


def resolve_inference_dtype(setting: str, device: torch.device | str) -> tuple[str, str]:
    """``model.dtype`` for a model that only generates, and why (``auto``: bf16 where fast)."""
    if setting != "auto":
        return setting, "set in the config"
    if fast_bf16(device):
        return "bfloat16", f"auto: bfloat16 is fast on {torch.device(device).type} here"
    return "float32", f"auto: bfloat16 is not fast on {torch.device(device).type} here"


#: ``trainer.micro_batch_size: auto`` per device type. On a CPU each pass pays fixed costs (the
#: autocast copies of the weights, the chunked output head, kernel launches): measured on 2 cores
#: with a 135M model, 16 sequences of 134 tokens trained in 11.7 s as one pass and 19.4 s as four.
#: On a GPU activation memory is the limit and 4 is the safe start for billion-parameter models.
AUTO_MICRO_BATCH = {"cpu": 16, "cuda": 4}


def resolve_micro_batch_size(setting: int | str, device: torch.device | str) -> tuple[int, str]:
    """``trainer.micro_batch_size``: an integer as given, ``auto`` by device type (``AUTO_MICRO_BATCH``)."""
    if setting != "auto":
        return int(setting), "set in the config"
    kind = torch.device(device).type
    size = AUTO_MICRO_BATCH.get(kind, 4)
    return size, f"auto: {size} sequences per pass on {kind}"


@functools.cache
def vllm_installed() -> bool:
    """Whether vLLM can be imported (checked without importing it, which takes seconds)."""
    return importlib.util.find_spec("vllm") is not None


def resolve_engine(setting: str) -> tuple[str, str]:
    """``rollout.engine`` as a registered engine name, and why (``auto``: vllm where installed)."""
    if setting != "auto":
        return setting, "set in the config"
    if vllm_installed():
        return "vllm", "auto: vLLM is installed"
    return "hf", "auto: vLLM is not installed (pip install 'mmrl[vllm]'); transformers generate"


#: glibc ``mallopt`` parameters (malloc.h) and the values ``retain_freed_memory`` sets: every
#: block comes from the heap, never from a fresh mapping (``M_MMAP_MAX`` 0; without it a block over
#: the 32 MiB mmap threshold, such as the embedding's gradient, was mapped whenever the heap's top
#: could not hold it and unmapped when freed, every step), the heap is trimmed only when 2 GiB
#: sit free at its top, and it grows 512 MiB at a time.
RETAINED_MALLOC = {
    "M_TRIM_THRESHOLD": (-1, 2**31 - 1),
    "M_TOP_PAD": (-2, 512 << 20),
    "M_MMAP_MAX": (-4, 0),
}


@functools.cache
def retain_freed_memory() -> tuple[bool, str]:
    """Keep freed memory in this process (glibc ``mallopt``, ``RETAINED_MALLOC``); returns
    ``(applied, why)``.

    A training step on a CPU allocates the same activations, logits chunks and gradients every
    step. glibc's defaults hand large blocks back to the OS when they are freed (``munmap``, heap
    trimming), so each step faults every page back in, zero-filled by the kernel: on the 2-core
    bench_vs_trl shape that was a third of the update's time, in system time. With these settings
    the pages are reused; the process keeps about its peak memory between steps (the same peak).
    Process-wide and idempotent; a no-op (``False``) where the C library is not glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False, f"not glibc ({platform.system()} {platform.libc_ver()[0] or 'unknown libc'})"
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError) as e:
        return False, f"glibc's mallopt is not available ({e})"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    refused = [name for name, (param, value) in RETAINED_MALLOC.items() if mallopt(param, value) != 1]
    if refused:
        return False, f"glibc refused mallopt {', '.join(refused)}"
    return True, "freed memory stays in the process (glibc mallopt: no trimming, no mmap)"
