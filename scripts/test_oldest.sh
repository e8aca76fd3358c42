#!/usr/bin/env bash
# The "oldest" leg of the test matrix: a separate virtualenv (.venv-oldest) with the lower bounds of
# pyproject.toml (scripts/constraints-oldest.txt: pandas 2.1, numpy 1.26, pyarrow 15, DuckDB 1.4,
# JupyterLab 4.0, ...) runs the core test suite and the sidebar browser test. The "newest" leg is the
# main `pytest` run in .venv; tests/test_fingerprint_versions.py compares fingerprints across both.
#
#   bash scripts/test_oldest.sh setup   # create/refresh .venv-oldest (pip reuses its download cache)
#   bash scripts/test_oldest.sh run     # run the subset below in it (setup first if needed)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${OLDEST_VENV:-.venv-oldest}"
STAMP="$VENV/.installed-stamp"
# Core suite: store, tracking, capture, fingerprints, registry, batch; plus the sidebar on the oldest
# JupyterLab, and serving's HTTP face and archive on the serve extra's lower bounds (starlette, uvicorn,
# prometheus_client). Left to the newest leg only: CLI/compare/widget/server details, Dask, examples,
# wheel, and serving's engine and switch tests (pure asyncio logic; kept off to hold `make test` near 20 min).
TESTS=(
    tests/test_tracking.py tests/test_filters.py tests/test_concurrency.py
    tests/test_capture.py tests/test_capture_shell.py
    tests/test_fingerprint.py tests/test_fingerprint_scheme.py
    tests/test_registry.py
    tests/test_batch_run.py tests/test_batch_pipeline.py tests/test_batch_reproduce.py tests/test_batch_sweep.py
    tests/test_compat_lab.py
    tests/test_hardening_records.py tests/test_ingest_hostile.py tests/test_compat_store.py
    tests/test_lock_fairness.py tests/test_shutdown.py tests/test_model_trust.py
    tests/test_project.py tests/test_events.py tests/test_backend_contract.py tests/test_registry_consensus.py
    tests/test_monitoring_math.py tests/test_monitoring_store.py
    tests/test_input_schema.py tests/test_serving_http.py tests/test_serving_archive.py
)

setup() {
    local started=$SECONDS
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    # The labextension is built once, by `make` (mlnb/labextension), before this runs; the editable
    # install then skips the Node build (skip-if-exists in pyproject.toml).
    "$VENV/bin/pip" install --quiet -c scripts/constraints-oldest.txt -e ".[test]"
    # What `pip install mlnb` puts in place from the wheel's shared data: the prebuilt labextension and
    # the file enabling the server extension (an editable install does not copy them).
    mkdir -p "$VENV/share/jupyter/labextensions" "$VENV/etc/jupyter/jupyter_server_config.d"
    ln -sfn "$PWD/mlnb/labextension" "$VENV/share/jupyter/labextensions/mlnb"
    cp jupyter-config/server-config/mlnb.json "$VENV/etc/jupyter/jupyter_server_config.d/mlnb.json"
    "$VENV/bin/python" - <<'EOF'
import duckdb, jupyterlab, numpy, pandas, pyarrow
print(f"oldest venv: pandas {pandas.__version__}, numpy {numpy.__version__}, pyarrow {pyarrow.__version__}, "
      f"duckdb {duckdb.__version__}, jupyterlab {jupyterlab.__version__}")
EOF
    touch "$STAMP"
    echo "oldest venv set up in $((SECONDS - started)) s"
}

run() {
    [ -f "$STAMP" ] || setup
    local started=$SECONDS
    # MLNB_MATRIX tells tests/test_compat_lab.py that it runs in this leg.
    MLNB_MATRIX=oldest "$VENV/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}"
    echo "oldest leg: tests took $((SECONDS - started)) s"
}

case "${1:-run}" in
    setup) setup ;;
    run) run ;;
    *) echo "usage: $0 [setup|run]" >&2; exit 2 ;;
esac
