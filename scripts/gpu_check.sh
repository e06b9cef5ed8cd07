#!/usr/bin/env bash
# The GPU measurements in one run (at most ~8 minutes on one H100/H200):
#
#   scripts/gpu_check.sh OUT_DIR
#
#   1. the gpu-marked tests (tests/gpu): CUDA smoke, algorithms on the device, a tiny fit
#   2. scripts/bench_step.py on the Qwen2-0.5B shape (random init, 8 prompts x 8, 256 tokens),
#      bf16, with the hf engine (its static cache is compiled on CUDA)
#   3. scripts/bench_vs_trl.py at 16 prompts x 4 samples x 256 tokens in bf16 (64 x 256), TRL's
#      GRPOTrainer against mmrl's defaults in alternating fresh processes
#
# Writes OUT_DIR/gpu_tests.txt, OUT_DIR/bench_step.{json,md}, OUT_DIR/bench_vs_trl.{json,md} and
# OUT_DIR/summary.md. It uses the Python on PATH (a GPU machine's image: torch, transformers,
# accelerate; TRL, datasets and mathruler may be installed from carried wheels first with
# `pip install --no-deps WHEELS`); it installs nothing itself. CUDA vLLM wheels are too large to
# carry to a lent machine, so the hf engine is what this measures; with vLLM installed,
# `rollout.engine=auto` would choose it. A part that fails is recorded and the next one runs.
set -uo pipefail

OUT="${1:?usage: scripts/gpu_check.sh OUT_DIR}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY="${PYTHON:-python}"
status=0

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device visible to $PY; nothing to measure" >&2
    exit 2
fi
"$PY" -c "import torch; print('device:', torch.cuda.get_device_name(0), '| torch', torch.__version__)" | tee "$OUT/device.txt"

echo "== 1/3 gpu-marked tests"
timeout 180 "$PY" -m pytest -q tests/gpu -p no:cacheprovider > "$OUT/gpu_tests.txt" 2>&1 || status=1
tail -3 "$OUT/gpu_tests.txt"

echo "== 2/3 bench_step: Qwen2-0.5B shape, 8 x 8 x 256, bf16, hf engine"
timeout 150 "$PY" scripts/bench_step.py --model qwen2-0.5b-random --prompts 8 --n 8 --max-new-tokens 256 \
    --dtype bfloat16 --engine hf --warmup 1 --steps 2 --json "$OUT/bench_step.json" > "$OUT/bench_step.md" 2>"$OUT/bench_step.log" || status=1
cat "$OUT/bench_step.md"

echo "== 3/3 bench_vs_trl: 64 x 256 tokens, bf16"
if "$PY" -c "import trl, datasets" 2>/dev/null; then
    timeout 240 "$PY" scripts/bench_vs_trl.py --model qwen2-0.5b-random --prompts 16 --n 4 --max-new-tokens 256 \
        --rounds 1 --warmup 1 --steps 2 --json "$OUT/bench_vs_trl.json" > "$OUT/bench_vs_trl.md" 2>"$OUT/bench_vs_trl.log" || status=1
    cat "$OUT/bench_vs_trl.md"
else
    echo "TRL or datasets is not installed: carry their wheels (pip download trl==1.16.0 datasets --no-deps)" | tee "$OUT/bench_vs_trl.md"
    status=1
fi

{
    echo "# GPU check"
    echo
    cat "$OUT/device.txt"
    echo
    echo "## gpu-marked tests"
    echo
    tail -1 "$OUT/gpu_tests.txt"
    echo
    echo "## bench_step (Qwen2-0.5B shape, hf engine, bf16)"
    echo
    cat "$OUT/bench_step.md"
    echo
    echo "## bench_vs_trl (64 x 256, bf16)"
    echo
    cat "$OUT/bench_vs_trl.md"
} > "$OUT/summary.md"
echo "wrote $OUT/summary.md (exit $status)"
exit $status
