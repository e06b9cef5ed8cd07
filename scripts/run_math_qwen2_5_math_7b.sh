#!/usr/bin/env bash
# The A-GRAE paper's text experiment: train Qwen2.5-Math-7B on MATH with one algorithm on 8 GPUs,
# then evaluate final/ with the paper's protocol (n = 256 samples at T = 0.6, top-p 0.95, 4096
# tokens; pass@k for k = 1..256 on MATH test, AIME 2025 and AMC 2023).
#
#   scripts/run_math_qwen2_5_math_7b.sh ALGO [a.b=c ...]
#   ALGO: grpo | grpo_agrae | dapo | dapo_agrae | dr_grpo | dr_grpo_agrae
#
# Environment: LAUNCH, MMRL, PYTHON, EVAL_BENCHMARKS, EVAL_ARGS (replace the paper's evaluation
# settings, e.g. for a quick check), as in scripts/train_then_eval.sh. Rerunning the script resumes
# training and the evaluation where they stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
ALGO="${1:?usage: $0 ALGO [a.b=c ...]  (ALGO: grpo, grpo_agrae, dapo, dapo_agrae, dr_grpo, dr_grpo_agrae)}"
shift
CONFIG="scripts/configs/math_qwen2_5_math_7b_${ALGO}.yaml"
exec bash scripts/train_then_eval.sh "$CONFIG" "math:test,aime25,amc23" \
    "--n 256 --k 1,2,4,8,16,32,64,128,256 --temperature 0.6 --top-p 0.95 --max-new-tokens 4096 --engine vllm" "$@"
