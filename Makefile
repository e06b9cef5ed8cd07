# The two commands of the README:
#   make demo    the main job on the embedded default model (offline, CPU)
#   make test    lint + the whole test suite (what CI runs)
# Both create .venv on first use (scripts/setup_venv.sh: torch, vLLM where the machine can run it,
# mmrl[dev,bench] (bench: TRL and Math-Verify for the side-by-side benchmarks), the embedded model) and reuse it afterwards.

VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmrl-installed
export MMRL_CACHE ?= $(CURDIR)/.cache/mmrl
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# mmrl train/demo/eval choose how idle OpenMP threads wait (mmrl/openmp.py: spin on idle cores,
# sleep on busy ones). The tests run nothing timed and share the cores with their own subprocesses:
# their threads sleep.
TEST_ENV := OMP_WAIT_POLICY=$(or $(OMP_WAIT_POLICY),PASSIVE)

.PHONY: setup test test-vllm lint format demo clean

$(STAMP): pyproject.toml scripts/setup_venv.sh scripts/torchvision_cpu_shim.py
	bash scripts/setup_venv.sh $(VENV)
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# pytest exits 5 when it collects no test; make treats that as a failure like any other.
# The vLLM engine's tests run in a process of their own: an in-process vLLM engine changes
# process-wide state (its parallel groups, torch's thread settings) that other tests must not see.
test: lint
	$(TEST_ENV) $(BIN)/python -m pytest tests --ignore=tests/vllm
	$(MAKE) test-vllm

# Skipped (not failed) where vLLM is not installed, unless MMRL_REQUIRE_VLLM=1 (CI sets it).
test-vllm: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest tests/vllm -m vllm

# SmolLM2-135M learns arithmetic with GRPO + A-GRAE, pass@k before/after (<= 15 min on 2 CPU cores).
demo: $(STAMP)
	$(BIN)/mmrl demo

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
