#!/usr/bin/env bash
# The A-GRAE paper's multimodal experiment: train Qwen2.5-VL on Geometry3K with one algorithm on 8
# GPUs, then report accuracy in-domain (Geometry3K test) and out of domain (MathVision, MathVerse
# testmini) as mean@8 / pass@1 over 8 samples at T = 0.6.
#
#   scripts/run_geo3k_qwen2_5_vl.sh RUN [a.b=c ...]
#   RUN: 3b_grpo | 3b_grpo_agrae | 3b_dapo | 3b_dapo_agrae | 3b_dr_grpo | 3b_dr_grpo_agrae | 7b_grpo_agrae
#
# Environment: LAUNCH, MMRL, PYTHON, EVAL_BENCHMARKS, EVAL_ARGS as in scripts/train_then_eval.sh.
# Offline, give the benchmarks' local copies with EVAL_ARGS="... --data-dir /data/benchmarks".
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${1:?usage: $0 RUN [a.b=c ...]  (RUN: 3b_grpo, 3b_grpo_agrae, 3b_dapo, 3b_dapo_agrae, 3b_dr_grpo, 3b_dr_grpo_agrae, 7b_grpo_agrae)}"
shift
CONFIG="scripts/configs/geo3k_qwen2_5_vl_${NAME}.yaml"
exec bash scripts/train_then_eval.sh "$CONFIG" "geometry3k,mathvision,mathverse" \
    "--n 8 --k 1,8 --temperature 0.6 --top-p 0.95 --max-new-tokens 2048 --engine vllm" "$@"
