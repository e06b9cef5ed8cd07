#!/usr/bin/env bash
# The chart recipe: train Qwen2.5-VL-3B-Instruct on ChartQA with GRPO + A-GRAE on 8 GPUs, then
# evaluate ChartQA test (relaxed accuracy) with 8 samples per question.
#
#   scripts/run_chartqa_qwen2_5_vl_3b.sh [a.b=c ...]
#
# Environment: LAUNCH, MMRL, PYTHON, EVAL_BENCHMARKS, EVAL_ARGS as in scripts/train_then_eval.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG="scripts/configs/chartqa_qwen2_5_vl_3b_grpo_agrae.yaml"
exec bash scripts/train_then_eval.sh "$CONFIG" "chartqa" \
    "--n 8 --k 1,8 --temperature 0.6 --top-p 0.95 --max-new-tokens 1024 --engine vllm" "$@"
