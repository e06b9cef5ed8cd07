#!/usr/bin/env bash
# Shared by the run_*.sh scripts: train CONFIG (with the a.b=c overrides) through $LAUNCH, then
# evaluate the run directory's final model with `mmrl eval`.
#
#   scripts/train_then_eval.sh CONFIG DEFAULT_BENCHMARKS DEFAULT_EVAL_ARGS [a.b=c ...]
#
# Environment: LAUNCH (default: accelerate launch with scripts/accelerate/fsdp_8gpu.yaml),
# MMRL (default: mmrl), PYTHON (default: python), EVAL_BENCHMARKS and EVAL_ARGS (replace the
# defaults, e.g. for a quick check). Rerunning resumes training and the evaluation where they stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG="${1:?usage: $0 CONFIG DEFAULT_BENCHMARKS DEFAULT_EVAL_ARGS [a.b=c ...]}"
EVAL_BENCHMARKS="${EVAL_BENCHMARKS:-$2}"
EVAL_ARGS="${EVAL_ARGS:-$3}"
shift 3
[ -f "$CONFIG" ] || { echo "no config $CONFIG" >&2; exit 2; }
MMRL="${MMRL:-mmrl}"
PYTHON="${PYTHON:-python}"
LAUNCH="${LAUNCH:-accelerate launch --config_file scripts/accelerate/fsdp_8gpu.yaml -m mmrl}"

RUN="$("$PYTHON" -c 'import sys; from mmrl.config import load_config; print(load_config(sys.argv[1], sys.argv[2:]).trainer.output_dir)' "$CONFIG" "$@")"
$LAUNCH train "$CONFIG" "$@"
# shellcheck disable=SC2086
$MMRL eval --model "$RUN" --benchmarks "$EVAL_BENCHMARKS" $EVAL_ARGS --output "$RUN/eval"
