# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
# Oversubscribed BLAS threads slow small matrix work 20-50x on 2 cores.
export OPENBLAS_NUM_THREADS ?= 1
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,bm3d]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p demo
	$(VENV)/bin/restora restore restora/assets/demo_mixed.jpg -o demo/restored.png \
		--report demo/report.html --json demo/trace.json --no-memory --force
	@echo "open demo/report.html"

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check restora tests

clean:
	rm -rf $(VENV) demo .pytest_cache
