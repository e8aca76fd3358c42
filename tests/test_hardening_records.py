"""Hardening of records (issue 12, items 1-3): a bad value costs at most its own event, a
well-formed line with wrong types is quarantined instead of bricking ingest, and a run's own
end beats a `crashed` verdict inferred by another process."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

import mlnb
from mlnb.errors import InvalidValueError
from mlnb.store import queries
from mlnb.store.store import Store


def _run_row(store: Store, run_id: str) -> dict:
    frame = queries.sql(store, f"SELECT * FROM runs WHERE run_id = '{run_id}'")  # run_id is ours (hex)
    assert len(frame) == 1, f"run {run_id} is not in the index"
    return frame.iloc[0].to_dict()


# ---------------------------------------------------------------------------------------------
# 1. one bad value never costs other records


def test_a_lone_surrogate_in_run_b_loses_nothing_of_run_a(store: Store) -> None:
    # Given run A with a name, params and 100 metric points, queued but not yet written
    run_a = mlnb.start_run(experiment="exp-a", name="run-a", params={"lr": 0.1, "depth": 4})
    for step in range(100):
        run_a.log_metric("loss", 1 / (step + 1), step=step)
    # When run B, in the same process, logs a file name from a badly encoded folder
    bad_name = os.fsdecode(b"data-\xff.csv")  # 'data-\udcff.csv', as os.listdir returns it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped, so nothing to warn about
        run_b = mlnb.start_run(name=bad_name, parent=None)
        run_b.log_params({"file": bad_name, bad_name: 1})
        run_b.set_tag("source", bad_name)
        run_b.log_metric(bad_name, 1.0)
        run_b.end()
    run_a.end()
    # Then run A is complete in the index
    row = _run_row(store, run_a.id)
    assert (row["name"], row["experiment"], row["status"]) == ("run-a", "exp-a", "finished")
    params = queries.sql(store, f"SELECT key, value FROM params WHERE run_id = '{run_a.id}' ORDER BY key")
    assert params.to_dict("list") == {"key": ["depth", "lr"], "value": ["4", "0.1"]}
    assert int(queries.sql(store, f"SELECT count(*) AS n FROM metrics WHERE run_id = '{run_a.id}'")["n"][0]) == 100
    # And run B's values are kept, the undecodable byte escaped as text
    assert _run_row(store, run_b.id)["name"] == "data-\\xff.csv"
    params_b = queries.sql(store, f"SELECT key, value FROM params WHERE run_id = '{run_b.id}' ORDER BY key")
    assert params_b.to_dict("list") == {"key": ["data-\\xff.csv", "file"], "value": ["1", "data-\\xff.csv"]}
    tag = queries.sql(store, f"SELECT value FROM tags WHERE run_id = '{run_b.id}'")["value"][0]
    assert tag == "data-\\xff.csv"
    assert list(queries.sql(store, f"SELECT key FROM metrics WHERE run_id = '{run_b.id}'")["key"]) == ["data-\\xff.csv"]


def test_an_unencodable_event_is_dropped_alone_with_a_warning_naming_it(store: Store) -> None:
    # Given queued events of a run, and then an event no encoder can write (an arbitrary object)
    run = mlnb.start_run(name="kept")
    run.log_metrics({"a": 1.0, "b": 2.0})
    with pytest.warns(RuntimeWarning, match="dropped one lineage event of run"):
        accepted = store.writer.emit({"e": "lineage", "run": run.id, "src_id": object()})
    run.log_metric("a", 3.0)
    run.end()
    # Then only that event is lost
    assert accepted is False
    assert _run_row(store, run.id)["status"] == "finished"
    assert int(queries.sql(store, f"SELECT count(*) AS n FROM metrics WHERE run_id = '{run.id}'")["n"][0]) == 3


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"name": Path("x")}, ("x", "Default")),
    ({"name": 12345}, ("12345", "Default")),
    ({"experiment": 2024, "name": "n"}, ("n", "2024")),
    ({"experiment": Path("exp") / "sub", "name": 1.5}, ("1.5", str(Path("exp") / "sub"))),
])
def test_start_run_coerces_paths_and_numbers_to_text(store: Store, kwargs: dict, expected: tuple) -> None:
    # When a run is started with a path or a number as its name or experiment
    with mlnb.start_run(**kwargs) as run:
        run.log_metric("m", 1.0)
    # Then its records reach the store, with the text of the value
    row = _run_row(store, run.id)
    assert (row["name"], row["experiment"], row["status"]) == (*expected, "finished")
    assert (run.name, run.experiment) == expected


@pytest.mark.parametrize("kwargs", [{"name": ["a"]}, {"experiment": {"x": 1}}, {"name": True},
                                    {"parent": 7}, {"run_id": 5}])
def test_start_run_refuses_other_types_in_one_line(store: Store, kwargs: dict) -> None:
    with pytest.raises(InvalidValueError) as info:
        mlnb.start_run(**kwargs)
    assert "\n" not in str(info.value)
    assert mlnb.active_run() is None


def test_huge_numbers_give_one_line_errors(store: Store) -> None:
    with mlnb.start_run() as run:
        with pytest.raises(InvalidValueError, match="64 bits"):
            run.log_metric("m", 1.0, step=2**70)
        with pytest.raises(InvalidValueError, match="fits a float"):
            run.log_metric("m", 10**400)
        run.log_param("big", 10**400)  # a param is text: kept, without a numeric reading
    value = queries.sql(store, f"SELECT value, value_num FROM params WHERE run_id = '{run.id}'")
    assert value["value"][0] == str(10**400) and value["value_num"].isna().all()
