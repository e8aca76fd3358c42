# The two commands of the README: `make demo` and `make test` (CI runs `make lint` first). Everything else is set-up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
JLPM := $(VENV)/bin/jlpm
NODE_STAMP := node_modules/.installed-stamp
LABEXT := mlnb/labextension/static/style.js

OLDEST := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed-stamp

.PHONY: demo test test-oldest lint install bench clean

demo: $(STAMP) $(LABEXT)  ## install, execute the example notebooks and the example pipeline into ./.mlnb, show where to look
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
	@echo "Compare and diff:    example-notebooks/executed/04-compare-runs.ipynb"
	@echo "Serving:             example-notebooks/executed/06-serving.ipynb | $(VENV)/bin/mlnb serve digits-classifier@champion --shadow digits-classifier@challenger"
	@if [ -n "$(NO_LAB)$$MLNB_DEMO_NO_LAB" ]; then \
		echo "JupyterLab:          skipped (NO_LAB); start it with: $(VENV)/bin/jupyter lab --LabApp.default_url=/lab/workspaces/mlnb"; \
	else \
		echo "Starting JupyterLab on this store with the mlnb panel open (Ctrl-C to stop; make demo NO_LAB=1 skips this)"; \
		$(VENV)/bin/jupyter lab --LabApp.default_url=/lab/workspaces/mlnb $$( [ "$$(id -u)" = 0 ] && echo --allow-root ); \
	fi

test: $(STAMP) $(LABEXT) $(OLDEST_STAMP)  ## the whole test suite (what CI runs): jest, pytest on the newest releases (incl. browser tests in Chromium), then the core suite on the oldest supported ones
	bash scripts/setup_browser_tests.sh
	$(JLPM) jest
	$(PY) -m pytest
	bash scripts/test_oldest.sh run

test-oldest: $(LABEXT) $(OLDEST_STAMP)  ## only the oldest leg of the matrix (.venv-oldest: pandas 2.1, DuckDB 1.4, JupyterLab 4.0, ...)
	bash scripts/setup_browser_tests.sh
	bash scripts/test_oldest.sh run

lint: $(STAMP)  ## ruff, then mypy (strict on the core); both configured in pyproject.toml. CI runs it before `make test`
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

install: $(STAMP) $(LABEXT)

# Node side (jlpm = the Yarn that jupyter-builder ships; yarn.lock pins everything)
$(NODE_STAMP): $(STAMP) package.json yarn.lock
	$(JLPM) install --immutable
	touch $(NODE_STAMP)

# The JupyterLab extension, built from labextension/ and linked into the venv's JupyterLab
$(LABEXT): $(NODE_STAMP) $(wildcard labextension/src/*.ts) labextension/style/index.css
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(JLPM) build:prod
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/jupyter-builder develop --overwrite .
	touch $(LABEXT)

# The oldest releases pyproject.toml allows, in their own virtualenv (see scripts/test_oldest.sh)
$(OLDEST_STAMP): pyproject.toml scripts/constraints-oldest.txt $(LABEXT)
	PYTHON=$(PYTHON) bash scripts/test_oldest.sh setup

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test,lint]"
	touch $(STAMP)

bench: $(STAMP)  ## mlnb vs MLflow (installs MLflow into its own venv on first use)
	$(PY) benchmarks/bench_tracking.py

clean:
	rm -rf $(VENV) $(OLDEST) .mlnb example-notebooks/executed benchmarks/.work
