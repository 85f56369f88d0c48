# genlab: every target sets up .venv first (idempotent), so a fresh clone needs only `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.genlab-installed
# pytest workers: 2 processes x 1 torch thread each uses the 2 cores best.
TEST_WORKERS ?= 2

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned to the local CPU wheel, so nothing resolves a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,app,lora,text]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/genlab train demo --out runs/demo $$(test -f runs/demo/config.yaml && echo --resume)
	$(BIN)/genlab sample runs/demo --n 100 --out runs/demo/samples.png
	@echo "demo: one row per digit class in runs/demo/samples.png"
	@echo "sample again: $(BIN)/genlab sample runs/demo --n 64 --class 7 --steps 20 --out runs/demo/sevens.png"

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests benchmarks

# Peers measured in the same run (diffusers) are benchmark-only dependencies.
$(VENV)/.genlab-bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,app,lora,text,bench]"
	touch $@

bench: $(VENV)/.genlab-bench
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
