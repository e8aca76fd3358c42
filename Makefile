# The two commands of the README: `make demo` and `make test`. Everything else is set-up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install bench clean

demo: $(STAMP)  ## install, execute the example notebooks and the example pipeline into ./.mlnb, show where to look
	$(VENV)/bin/mlnb init .
	$(PY) scripts/run_examples.py
	$(VENV)/bin/mlnb pipeline example-notebooks/pipeline/pipeline.yaml
	@echo
	$(VENV)/bin/mlnb experiments
	@echo
	$(VENV)/bin/mlnb runs --limit 12 --columns run_id,experiment,name,status,duration
	@echo
	$(VENV)/bin/mlnb models
	@echo
	@echo "Store:               $(CURDIR)/.mlnb  (event logs, DuckDB index, artifacts)"
	@echo "Executed notebooks:  $(CURDIR)/example-notebooks/executed/"
	@echo "Look around:         $(VENV)/bin/mlnb runs --help | mlnb show <run-id> | mlnb models show digits-classifier"
	@echo "                     $(VENV)/bin/mlnb sql \"SELECT experiment, count(*) FROM runs GROUP BY ALL\""

test: $(STAMP)  ## the whole test suite (what CI runs); sets up Chromium + playwright-core for the browser tests
	bash scripts/setup_browser_tests.sh
	$(PY) -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $(STAMP)

bench: $(STAMP)  ## mlnb vs MLflow (installs MLflow into its own venv on first use)
	$(PY) benchmarks/bench_tracking.py

clean:
	rm -rf $(VENV) .mlnb example-notebooks/executed benchmarks/.work
