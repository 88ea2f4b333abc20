# One command each, from a fresh clone:  make run  (the dashboard)   make test  (everything CI runs)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run cli test lint bench clean

$(VENV)/.runtime: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-ray.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/streamlit run dashboard/app.py --server.address 127.0.0.1 --browser.gatherUsageStats false

cli: $(VENV)/.runtime
	$(BIN)/python -m bet train --dataset gowalla-mini --backbone lightgcn --sparsity 0.9 --sizes frequency

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Browser and Ray tests in one process (timed page waits; one Ray cluster at a time), then the
# rest on two pytest-xdist workers, each test file whole on one (docs/results.md §5).
test: lint
	$(BIN)/python -m pytest -m "browser or ray"
	$(BIN)/python -m pytest -m "not browser and not ray" --numprocesses=2 --dist=loadfile

bench: $(VENV)/.dev
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
