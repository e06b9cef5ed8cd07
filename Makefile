# The two commands of the README:
#   make demo    the main job on the embedded default model (offline, CPU)
#   make test    lint + the whole test suite (what CI runs)
# Both create .venv on first use (scripts/setup_venv.sh) and reuse it afterwards.

VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmrl-installed
export MMRL_CACHE ?= $(CURDIR)/.cache/mmrl
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup test lint format demo clean

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
test: lint
	$(BIN)/python -m pytest tests

demo: $(STAMP)
	$(BIN)/mmrl models prepare smollm2 --check

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
