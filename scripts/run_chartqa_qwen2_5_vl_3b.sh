#!/usr/bin/env bash
# The chart recipe: train Qwen2.5-VL-3B-Instruct on ChartQA with GRPO + A-GRAE on 8 GPUs, then
# evaluate ChartQA test (relaxed accuracy) with 8 samples per question.
#
#   scripts/run_chartqa_qwen2_5_vl_3b.sh [a.b=c ...]
#
# Environment: LAUNCH, MMRL, PYTHON, EVAL_BENCHMARKS, EVAL_ARGS as in run_math_qwen2_5_math_7b.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG="scripts/configs/chartqa_qwen2_5_vl_3b_grpo_agrae.yaml"
MMRL="${MMRL:-mmrl}"
PYTHON="${PYTHON:-python}"
LAUNCH="${LAUNCH:-accelerate launch --config_file scripts/accelerate/fsdp_8gpu.yaml -m mmrl}"
EVAL_BENCHMARKS="${EVAL_BENCHMARKS:-chartqa}"
EVAL_ARGS="${EVAL_ARGS:---n 8 --k 1,8 --temperature 0.6 --top-p 0.95 --max-new-tokens 1024 --engine vllm}"

RUN="$("$PYTHON" -c 'import sys; from mmrl.config import load_config; print(load_config(sys.argv[1], sys.argv[2:]).trainer.output_dir)' "$CONFIG" "$@")"
$LAUNCH train "$CONFIG" "$@"
# shellcheck disable=SC2086
$MMRL eval --model "$RUN" --benchmarks "$EVAL_BENCHMARKS" $EVAL_ARGS --output "$RUN/eval"
