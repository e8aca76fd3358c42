"""The `mlnb` command line, run against a real store built with the Python API."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner

import mlnb
import mlnb.store.store
from mlnb.cli import cli, main
from mlnb.project import forget_current
from tests.cliutil import assert_one_line_error

ROOT = Path(__file__).resolve().parents[1]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """No store chosen by an earlier test, no MLNB_HOME, and a wide terminal for the tables."""
    forget_current()
    monkeypatch.delenv("MLNB_HOME", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    yield
    forget_current()


@pytest.fixture
def store(tmp_path):
    """Four runs in two experiments: three finished, one failed."""
    root = tmp_path / ".mlnb"
    mlnb.connect(root)
    ids = {}
    with mlnb.start_run(experiment="cifar", name="baseline", params={"lr": 0.1, "opt": "sgd", "epochs": 3}) as run:
        for loss, acc in [(1.0, 0.5), (0.5, 0.7), (0.25, 0.8)]:
            mlnb.log_metrics({"loss": loss, "acc": acc})
        mlnb.set_tag("team", "vision")
        mlnb.log_artifact(b"x" * 2048, name="model.bin")
        ids["baseline"] = run.id
    with mlnb.start_run(experiment="cifar", name="bigger", params={"lr": 0.01, "opt": "adam", "epochs": 5}) as run:
        mlnb.log_metrics({"loss": 0.2, "acc": 0.91234567, "ratio": 1 / 3})
        ids["bigger"] = run.id
    with mlnb.start_run(experiment="mnist", name="tiny", params={"lr": 0.001, "opt": "adam", "epochs": 1}) as run:
        mlnb.log_metrics({"loss": 0.1, "acc": 0.95})
        mlnb.log_artifact(b'{"a": 1}', name="config.json")
        ids["tiny"] = run.id
    with pytest.raises(RuntimeError):
        with mlnb.start_run(experiment="mnist", name="broken", params={"lr": 1.0}) as run:
            ids["broken"] = run.id
            raise RuntimeError("diverged")
    forget_current()  # the CLI must find the store from --store alone
    return {"root": root, "ids": ids}


def run_cli(store_root: Path | None, *args: str, input: str | None = None):
    argv = (["--store", str(store_root)] if store_root is not None else []) + list(args)
    return CliRunner().invoke(cli, argv, input=input)


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def table_rows(output: str) -> list[list[str]]:
    """The cells of a table's data rows (between the dashes line and the footer), cut at the
    column spans the dashes line marks; empty cells stay empty strings."""
    lines = output.rstrip("\n").splitlines()
    start = next(i for i, line in enumerate(lines) if line and set(line.replace(" ", "")) == {"-"})
    spans = [m.span() for m in re.finditer(r"-+", lines[start])]
    return [[line[a:b].strip() for a, b in spans] for line in lines[start + 1:-1]]


def csv_names(output: str) -> list[str]:
    return pd.read_csv(io.StringIO(output))["name"].tolist()


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


# --- version, help, packaging --------------------------------------------------------------


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert ok(result) == f"mlnb {mlnb.__version__}\n"


def test_installed_console_script_runs():
    script = Path(sys.executable).parent / ("mlnb.exe" if os.name == "nt" else "mlnb")
    script = str(script) if script.exists() else shutil.which("mlnb")
    assert script, "the mlnb console script is not installed (pip install -e .)"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"mlnb {mlnb.__version__}"


def test_main_entry_point_exits_cleanly():
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0


def test_importing_the_cli_does_not_load_pandas_or_duckdb():
    code = ("import sys, mlnb.cli; heavy = [m for m in ('pandas', 'duckdb', 'pyarrow') if m in sys.modules]; "
            "print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_top_level_help_lists_commands_and_examples():
    out = ok(CliRunner().invoke(cli, ["--help"]))
    for name in ("init", "runs", "show", "experiments", "metrics", "sql", "store"):
        assert re.search(rf"^\s+{name}\s", out, re.M), name
    assert "Examples:" in out and "mlnb runs --order-by -metrics.acc" in out
    assert "--store PATH" in out and "--version" in out


@pytest.mark.parametrize("path", all_commands(cli), ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    out = ok(result)
    assert f"Usage: mlnb {' '.join(path)} [OPTIONS]" in out
    command = cli
    for name in path:
        command = command.commands[name]
    assert command.help and command.help.split("\n")[0].strip()[:30] in out


def test_every_command_is_documented_in_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [" ".join(path) for path in all_commands(cli) if f"mlnb {' '.join(path)}" not in readme]
    assert not missing, f"README.md does not mention: {', '.join('mlnb ' + m for m in missing)}"


# --- init ----------------------------------------------------------------------------------


def test_init_creates_a_store_in_a_project_folder(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    out = ok(run_cli(None, "init", str(project)))
    assert out == f"created mlnb store at {project.resolve() / '.mlnb'}\n"
    assert (project / ".mlnb" / "events").is_dir()
    assert ok(run_cli(None, "init", str(project))).startswith("mlnb store already exists at")
    assert ok(run_cli(project, "runs")).startswith("no runs yet in ")


def test_init_without_path_uses_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = ok(run_cli(None, "init"))
    assert str(tmp_path.resolve() / ".mlnb") in out
    assert (tmp_path / ".mlnb" / "events").is_dir()
    assert ok(run_cli(None, "experiments")).startswith("no experiments yet")


def test_init_respects_mlnb_home(tmp_path, monkeypatch):
    home = tmp_path / "central-store"
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert str(home.resolve()) in ok(run_cli(None, "init"))
    assert (home / "events").is_dir()


# --- runs ----------------------------------------------------------------------------------


def test_runs_table(store):
    out = ok(run_cli(store["root"], "runs"))
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:6] == ["run_id", "experiment", "name", "status", "start", "duration"]
    assert {"metrics.acc", "metrics.loss", "params.lr", "params.opt", "params.epochs", "tags.team"} <= set(header)
    assert "parent_run_id" not in header and "end" not in header  # all-empty / replaced by duration
    assert lines[-1] == "4 runs"
    rows = table_rows(out)
    assert [row[2] for row in rows] == ["broken", "tiny", "bigger", "baseline"]  # newest first
    by_name = {row[2]: dict(zip(header, row)) for row in rows}
    for name, run_id in store["ids"].items():
        assert by_name[name]["run_id"] == run_id[:8]
        assert run_id not in out
    assert by_name["bigger"]["metrics.acc"] == "0.9123"  # 4 significant digits
    assert by_name["baseline"]["params.lr"] == "0.1" and by_name["tiny"]["params.lr"] == "0.001"
    assert by_name["baseline"]["params.opt"] == "sgd" and by_name["baseline"]["tags.team"] == "vision"
    assert by_name["broken"]["status"] == "failed" and by_name["tiny"]["status"] == "finished"
    assert TIMESTAMP.fullmatch(by_name["tiny"]["start"])  # to the second, no microseconds
    assert all(len(line) <= 200 for line in lines[:-1])


def test_runs_table_fits_a_narrow_terminal(store, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = ok(run_cli(store["root"], "runs"))
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines[:-1])
    header = lines[0].split()
    assert {"run_id", "name", "metrics.acc", "metrics.loss"} <= set(header)  # what matters stays
    assert lines[-1].startswith("4 runs; ") and "not shown" in lines[-1] and "tags.team" in lines[-1]


def test_runs_csv_has_full_values(store):
    out = ok(run_cli(store["root"], "runs", "--format", "csv"))
    frame = pd.read_csv(io.StringIO(out))
    assert len(frame) == 4
    assert set(frame["run_id"]) == set(store["ids"].values())
    rows = frame.set_index("name")
    assert rows.loc["bigger", "metrics.acc"] == pytest.approx(0.91234567)
    assert rows.loc["bigger", "metrics.ratio"] == 1 / 3
    assert rows.loc["tiny", "params.lr"] == pytest.approx(0.001)
    assert rows.loc["baseline", "params.opt"] == "sgd"
    assert rows.loc["baseline", "metrics.loss"] == pytest.approx(0.25)  # latest value
    assert "." in str(rows.loc["baseline", "start"])  # microseconds kept
    assert "duration" not in frame.columns and "end" in frame.columns


def test_runs_json_records_with_iso_dates(store):
    out = ok(run_cli(store["root"], "runs", "-f", "json"))
    records = json.loads(out)
    assert [r["name"] for r in records] == ["broken", "tiny", "bigger", "baseline"]
    baseline = records[-1]
    assert baseline["run_id"] == store["ids"]["baseline"]
    assert baseline["params.epochs"] == 3 and baseline["params.opt"] == "sgd"
    assert baseline["metrics.acc"] == pytest.approx(0.8)
    assert baseline["tags.team"] == "vision"
    assert datetime.fromisoformat(baseline["start"]) <= datetime.fromisoformat(baseline["end"])
    assert records[0]["status"] == "failed" and records[0]["metrics.acc"] is None
    assert records[2]["metrics.ratio"] == 1 / 3  # every digit, not rounded


def test_runs_filter(store):
    out = ok(run_cli(store["root"], "runs", "--filter", "params.opt = 'adam'", "-f", "csv"))
    assert sorted(csv_names(out)) == ["bigger", "tiny"]
    out = ok(run_cli(store["root"], "runs", "--filter", "metrics.acc > 0.85 and params.lr < 0.005", "-f", "csv"))
    assert csv_names(out) == ["tiny"]
    out = ok(run_cli(store["root"], "runs", "--filter", "status = 'failed'"))
    assert [row[2] for row in table_rows(out)] == ["broken"] and out.endswith("1 run\n")


def test_runs_order_by(store):
    out = ok(run_cli(store["root"], "runs", "--order-by", "-metrics.acc", "-f", "csv"))
    assert csv_names(out) == ["tiny", "bigger", "baseline", "broken"]  # missing values sort last
    out = ok(run_cli(store["root"], "runs", "--order-by", "params.lr", "-f", "csv"))
    assert csv_names(out) == ["tiny", "bigger", "baseline", "broken"]
    out = ok(run_cli(store["root"], "runs", "-o", "experiment desc", "-o", "params.lr", "-f", "csv"))
    assert csv_names(out) == ["tiny", "broken", "bigger", "baseline"]
    out = ok(run_cli(store["root"], "runs", "--order-by", "-params.lr", "--limit", "2"))
    assert [row[2] for row in table_rows(out)] == ["broken", "baseline"]
    assert out.splitlines()[-1].startswith("2 runs")


def test_runs_experiment_option(store):
    out = ok(run_cli(store["root"], "runs", "--experiment", "mnist", "-f", "csv"))
    assert sorted(csv_names(out)) == ["broken", "tiny"]
    out = ok(run_cli(store["root"], "runs", "-e", "mnist", "-e", "cifar", "-f", "csv"))
    assert len(csv_names(out)) == 4


def test_runs_columns(store):
    out = ok(run_cli(store["root"], "runs", "--columns", "name,lr,metrics.acc", "--order-by", "name"))
    assert out.splitlines()[0].split() == ["name", "params.lr", "metrics.acc"]
    assert table_rows(out)[0] == ["baseline", "0.1", "0.8"]
    out = ok(run_cli(store["root"], "runs", "-c", "name,params.*", "-f", "csv"))
    columns = list(pd.read_csv(io.StringIO(out)).columns)
    assert columns[0] == "name" and sorted(columns[1:]) == ["params.epochs", "params.lr", "params.opt"]
    out = ok(run_cli(store["root"], "runs", "-c", "name,duration", "-f", "json"))
    assert all(r["duration"] >= 0 for r in json.loads(out))


def test_runs_unknown_column_is_an_error(store):
    assert_one_line_error(run_cli(store["root"], "runs", "--columns", "name,bogus"), "bogus", "params.lr")


def test_runs_nothing_matches(store):
    result = run_cli(store["root"], "runs", "--filter", "metrics.acc > 2")
    assert ok(result) == "no runs match\n"
    assert ok(run_cli(store["root"], "runs", "-e", "imagenet")) == "no runs match\n"
    result = run_cli(store["root"], "runs", "-e", "imagenet", "-f", "json")
    assert json.loads(ok(result)) == [] and "no runs match" in result.stderr


def test_runs_in_an_empty_store(tmp_path):
    ok(run_cli(None, "init", str(tmp_path)))
    out = ok(run_cli(tmp_path, "runs"))
    assert out == f"no runs yet in {tmp_path.resolve() / '.mlnb'}; log one with mlnb.start_run()\n"


def test_bad_filter_is_one_line_error(store):
    assert_one_line_error(run_cli(store["root"], "runs", "--filter", "params.lr <"), "filter")
    assert_one_line_error(run_cli(store["root"], "runs", "--filter", "metrics.acc > 'high'"))
    assert_one_line_error(run_cli(store["root"], "runs", "--order-by", "params.lr sideways"), "order_by")


def test_store_option_accepts_the_project_folder(store):
    project = store["root"].parent
    assert ok(run_cli(project, "runs")).endswith("4 runs\n")


def test_store_found_from_the_working_directory_and_mlnb_home(store, tmp_path, monkeypatch):
    nested = store["root"].parent / "notebooks" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert ok(run_cli(None, "runs")).endswith("4 runs\n")
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setenv("MLNB_HOME", str(store["root"]))
    assert ok(run_cli(None, "runs")).endswith("4 runs\n")


# --- show ----------------------------------------------------------------------------------


def test_show_run_by_prefix(store):
    run_id = store["ids"]["baseline"]
    out = ok(run_cli(store["root"], "show", run_id[:6]))
    assert re.search(rf"^run\s+{run_id}$", out, re.M)
    assert re.search(r"^experiment\s+cifar$", out, re.M)
    assert re.search(r"^name\s+baseline$", out, re.M)
    assert re.search(r"^status\s+finished$", out, re.M)
    assert re.search(r"^parent\s+-$", out, re.M)
    headings = ["\nParams\n", "\nMetrics (latest)\n", "\nTags\n", "\nArtifacts\n"]
    positions = [out.index(h) for h in headings]
    assert positions == sorted(positions)
    params = out.split("Params\n")[1].split("\n\n")[0]
    assert re.search(r"^\s+lr\s+0\.1$", params, re.M) and re.search(r"^\s+opt\s+sgd$", params, re.M)
    assert re.search(r"^\s+epochs\s+3$", params, re.M)
    metrics = out.split("Metrics (latest)\n")[1].split("\n\n")[0]
    assert re.search(r"^\s+acc\s+0\.8$", metrics, re.M) and re.search(r"^\s+loss\s+0\.25$", metrics, re.M)
    assert re.search(r"^\s+team\s+vision$", out.split("Tags\n")[1], re.M)
    artifacts = out.split("Artifacts\n")[1]
    assert re.search(r"^\s+model\.bin\s+2\.0 KiB\s+[0-9a-f]{12}\s+application/octet-stream$", artifacts, re.M)


def test_show_run_without_tags_or_artifacts(store):
    out = ok(run_cli(store["root"], "show", store["ids"]["broken"]))
    assert re.search(r"^status\s+failed$", out, re.M)
    assert "Tags\n  (none)" in out and "Artifacts\n  (none)" in out and "Metrics (latest)\n  (none)" in out


def test_show_json(store):
    run_id = store["ids"]["tiny"]
    record = json.loads(ok(run_cli(store["root"], "show", run_id, "--format", "json")))
    assert record["run_id"] == run_id and record["name"] == "tiny" and record["experiment"] == "mnist"
    assert record["params"] == {"epochs": "1", "lr": "0.001", "opt": "adam"}
    assert record["metrics"] == {"acc": 0.95, "loss": 0.1}
    assert [a["path"] for a in record["artifacts"]] == ["config.json"]
    assert record["artifacts"][0]["size"] == 8 and record["artifacts"][0]["media_type"] == "application/json"
    datetime.fromisoformat(record["start"])
    datetime.fromisoformat(record["artifacts"][0]["created"])


def test_show_csv(store):
    out = ok(run_cli(store["root"], "show", store["ids"]["bigger"], "-f", "csv"))
    frame = pd.read_csv(io.StringIO(out), dtype=str)
    facts = {(s, k): v for s, k, v in frame.itertuples(index=False)}
    assert facts[("run", "name")] == "bigger" and facts[("params", "opt")] == "adam"
    assert float(facts[("metrics", "acc")]) == pytest.approx(0.91234567)


def test_show_unknown_run_is_one_line_error(store):
    assert_one_line_error(run_cli(store["root"], "show", "ffffffffffff"), "no run 'ffffffffffff'")
    assert_one_line_error(run_cli(store["root"], "show", "zz"), "no run 'zz'")


def test_ambiguous_prefix_is_one_line_error(tmp_path):
    root = tmp_path / ".mlnb"
    mlnb.connect(root)
    events = [{"e": "run_start", "run": f"abcd{n:028x}", "exp": "twins", "name": f"twin{n}", "t": 1.7e9 + n}
              for n in (1, 2)]
    (root / "events" / "hand-written.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert_one_line_error(run_cli(root, "show", "abcd"), "ambiguous")
    out = ok(run_cli(root, "show", "abcd" + "0" * 27 + "2"))
    assert re.search(r"^name\s+twin2$", out, re.M)


def test_nested_runs_show_the_parent(tmp_path):
    root = tmp_path / ".mlnb"
    mlnb.connect(root)
    with mlnb.start_run(experiment="sweep", name="outer") as outer:
        with mlnb.start_run(name="inner") as inner:
            mlnb.log_metric("acc", 0.5)
    out = ok(run_cli(root, "runs"))
    header = out.splitlines()[0].split()
    assert "parent_run_id" in header
    rows = {row[header.index("name")]: row for row in table_rows(out)}
    assert rows["inner"][header.index("parent_run_id")] == outer.id[:8]
    assert rows["outer"][header.index("parent_run_id")] == ""
    assert rows["inner"][header.index("experiment")] == "sweep"  # children inherit the experiment
    shown = ok(run_cli(root, "show", inner.id[:10]))
    assert re.search(rf"^parent\s+{outer.id}$", shown, re.M)


# --- experiments, metrics, sql ---------------------------------------------------------------


def test_experiments(store):
    out = ok(run_cli(store["root"], "experiments"))
    assert out.splitlines()[0].split() == ["experiment", "runs", "created", "last_run"]
    rows = {row[0]: row for row in table_rows(out)}
    assert rows["cifar"][1] == "2" and rows["mnist"][1] == "2"
    assert TIMESTAMP.fullmatch(rows["cifar"][2]) and TIMESTAMP.fullmatch(rows["mnist"][3])
    assert out.endswith("2 experiments\n")
    records = json.loads(ok(run_cli(store["root"], "experiments", "-f", "json")))
    assert {r["experiment"]: r["runs"] for r in records} == {"cifar": 2, "mnist": 2}


def test_metric_history(store):
    run_id = store["ids"]["baseline"]
    out = ok(run_cli(store["root"], "metrics", run_id[:8], "loss"))
    assert out.splitlines()[0].split() == ["step", "value", "timestamp"]
    assert [row[:2] for row in table_rows(out)] == [["0", "1"], ["1", "0.5"], ["2", "0.25"]]
    assert out.endswith("3 values of loss\n")
    frame = pd.read_csv(io.StringIO(ok(run_cli(store["root"], "metrics", run_id, "acc", "-f", "csv"))))
    assert frame["step"].tolist() == [0, 1, 2] and frame["value"].tolist() == pytest.approx([0.5, 0.7, 0.8])
    records = json.loads(ok(run_cli(store["root"], "metrics", run_id, "acc", "-f", "json")))
    assert [r["value"] for r in records] == pytest.approx([0.5, 0.7, 0.8])


def test_metric_history_errors(store):
    assert_one_line_error(run_cli(store["root"], "metrics", store["ids"]["baseline"], "f1"), "no metric 'f1'", "acc")
    assert_one_line_error(run_cli(store["root"], "metrics", "deadbeef", "loss"), "no run 'deadbeef'")


def test_sql(store):
    query = "SELECT experiment, count(*) AS n FROM runs GROUP BY experiment ORDER BY experiment"
    out = ok(run_cli(store["root"], "sql", query))
    assert table_rows(out) == [["cifar", "2"], ["mnist", "2"]] and out.endswith("2 rows\n")
    frame = pd.read_csv(io.StringIO(ok(run_cli(store["root"], "sql", query, "--format", "csv"))))
    assert frame.to_dict("records") == [{"experiment": "cifar", "n": 2}, {"experiment": "mnist", "n": 2}]
    records = json.loads(ok(run_cli(store["root"], "sql", query, "-f", "json")))
    assert records == [{"experiment": "cifar", "n": 2}, {"experiment": "mnist", "n": 2}]
    out = ok(run_cli(store["root"], "sql", "-", input="SELECT value FROM params WHERE key = 'opt' AND value = 'sgd'"))
    assert table_rows(out) == [["sgd"]]


def test_sql_errors(store):
    assert_one_line_error(run_cli(store["root"], "sql", "SELEC * FROM runs"), "SQL failed")
    assert_one_line_error(run_cli(store["root"], "sql", "SELECT * FROM no_such_view"), "SQL failed")
    assert_one_line_error(run_cli(store["root"], "sql", "DELETE FROM idx.runs"), "SQL failed")
    assert_one_line_error(run_cli(store["root"], "sql", "   "))
    assert ok(run_cli(store["root"], "runs", "-f", "csv")).count("\n") == 5  # nothing was deleted


# --- store ---------------------------------------------------------------------------------


def test_store_rebuild_keeps_the_runs(store):
    before = pd.read_csv(io.StringIO(ok(run_cli(store["root"], "runs", "-f", "csv"))))
    (store["root"] / "mlnb.duckdb").unlink()
    out = ok(run_cli(store["root"], "store", "rebuild"))
    assert re.fullmatch(r"rebuilt index of .+ in \d+\.\d\d s: 4 runs from \d+ events in \d+ event files\n", out), out
    after = pd.read_csv(io.StringIO(ok(run_cli(store["root"], "runs", "-f", "csv"))))
    pd.testing.assert_frame_equal(before, after)


def test_store_status(store):
    root = store["root"]
    out = ok(run_cli(root, "store", "status"))
    assert re.search(rf"^store\s+{re.escape(str(root.resolve()))}$", out, re.M)
    events = list((root / "events").glob("*.jsonl"))
    assert re.search(rf"^event files\s+{len(events)} \(", out, re.M)
    assert re.search(r"^index\s+mlnb\.duckdb \(\d+\.\d \w+\)$", out, re.M)
    assert re.search(r"^artifacts\s+2 blobs \(", out, re.M)
    assert re.search(r"^runs\s+4: 3 finished, 1 failed$", out, re.M)
    status = json.loads(ok(run_cli(root, "store", "status", "--format", "json")))
    assert status["runs_by_status"] == {"finished": 3, "failed": 1} and status["runs"] == 4
    assert status["event_files"] == len(events)
    assert status["event_bytes"] == sum(p.stat().st_size for p in events)
    assert status["index_bytes"] > 0


# --- errors --------------------------------------------------------------------------------

READ_COMMANDS = [
    ("runs",), ("show", "abcd1234"), ("experiments",), ("metrics", "abcd1234", "loss"),
    ("sql", "SELECT 1"), ("store", "status"), ("store", "rebuild"),
]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_missing_store_is_one_line_error(args, tmp_path, monkeypatch):
    if any((folder / ".mlnb").is_dir() for folder in tmp_path.parents):
        pytest.skip("a parent of the temp folder holds a .mlnb store")
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run_cli(None, *args), "no mlnb store found", "mlnb init")
    assert not (tmp_path / ".mlnb").exists()


def test_store_option_pointing_nowhere_is_one_line_error(tmp_path):
    assert_one_line_error(run_cli(tmp_path / "nope", "runs"), "no mlnb store at", "mlnb init")
    assert not (tmp_path / "nope").exists()


def test_mlnb_home_without_a_store_is_an_error_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLNB_HOME", str(tmp_path / "home"))
    assert_one_line_error(run_cli(None, "runs"), "mlnb init")
    assert not (tmp_path / "home").exists()


def test_usage_errors_keep_clicks_exit_code(store):
    result = run_cli(store["root"], "runs", "--format", "xml")
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = run_cli(store["root"], "runs", "--limit", "-1")
    assert result.exit_code == 2


# --- issue 12: careless and hostile input ---------------------------------------------------


def console_script() -> str:
    script = Path(sys.executable).parent / "mlnb"
    return str(script) if script.exists() else shutil.which("mlnb")


def run_script(*args: str | bytes, cwd: Path | None = None, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The installed `mlnb` in a fresh process (stdout and stderr as text)."""
    return subprocess.run([*prefix, console_script(), *args], capture_output=True, timeout=120, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


def assert_one_line_stderr(done: subprocess.CompletedProcess, *fragments: str) -> str:
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, (done.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.mark.parametrize("query", [
    "COPY (SELECT 42 AS x) TO '{tmp}/copied.csv'",
    "EXPLAIN ANALYZE COPY (SELECT 42 AS x) TO '{tmp}/copied.csv'",
    "EXPORT DATABASE '{tmp}/exported'",
    "ATTACH '{tmp}/other.duckdb'",
    "INSTALL httpfs", "LOAD httpfs", "PRAGMA version", "SET threads = 1", "CALL pragma_version()",
    "SELECT 1; COPY (SELECT 1) TO '{tmp}/copied.csv'",
])
def test_sql_face_runs_queries_only(store, query):
    # DuckDB's own temp folder is the one place file access stays allowed on the safe connection
    tmp = store["root"] / "mlnb.duckdb.tmp"
    tmp.mkdir(exist_ok=True)
    assert_one_line_error(run_cli(store["root"], "sql", query.format(tmp=tmp)), "only queries are allowed")
    assert list(tmp.iterdir()) == []


def test_sql_face_still_answers_every_kind_of_query(store):
    for query in ("EXPLAIN SELECT * FROM runs", "DESCRIBE runs", "SUMMARIZE runs", "FROM runs SELECT name",
                  "WITH x AS (SELECT 1 AS a) SELECT * FROM x", "VALUES (1), (2)", "SHOW TABLES"):
        ok(run_cli(store["root"], "sql", query))


def test_sql_prints_timestamps_beyond_year_9999(store):
    out = ok(run_cli(store["root"], "sql", "SELECT 'infinity'::TIMESTAMP AS a, '-infinity'::TIMESTAMP AS b"))
    assert table_rows(out) == [["294247-01-10 04:00:54", "-290308-12-21 19:59:05"]]


@pytest.mark.parametrize("args", [("runs", "--filter", "\udcff"), ("runs", "-e", "x\udcffy"), ("show", "\udcff"),
                                  ("sql", "SELECT '\udcff'"), ("metrics", "\udcff", "loss")], ids=repr)
def test_invalid_utf8_in_an_argument_is_one_line_error(store, args):
    # Python passes undecodable argv bytes on as lone surrogates; CliRunner gets them the same way
    assert_one_line_error(run_cli(store["root"], *args), "is not valid UTF-8")


def test_invalid_utf8_from_a_real_terminal_is_one_line_error(store):
    line = assert_one_line_stderr(run_script("--store", str(store["root"]), "show", b"ab\xffcd"), "not valid UTF-8")
    assert "ab\\xffcd" in line


@pytest.mark.parametrize("damage", ["truncate", "garble", "random", "empty"])
def test_damaged_index_is_one_line_error_and_rebuild_repairs_it(store, damage):
    root = store["root"]
    before = ok(run_cli(root, "runs", "-f", "csv"))
    mlnb.store.store.Store.open(root).close()
    index = root / "mlnb.duckdb"
    data = index.read_bytes()
    if damage == "truncate":
        index.write_bytes(data[:5000])
    elif damage == "garble":  # checksummed blocks after the headers
        index.write_bytes(data[:12288] + os.urandom(65536) + data[12288 + 65536:])
    elif damage == "random":
        index.write_bytes(os.urandom(len(data)))
    else:
        index.write_bytes(b"")
    for args in (("runs",), ("sql", "SELECT count(*) FROM runs"), ("show", store["ids"]["tiny"][:8])):
        done = run_script("--store", str(root), *args)
        if damage == "empty" and done.returncode == 0:
            continue  # DuckDB takes an empty file for a new database: the index is rebuilt from the events
        assert_one_line_stderr(done, "mlnb store rebuild")
    rebuilt = run_script("--store", str(root), "store", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert run_script("--store", str(root), "runs", "-f", "csv").stdout.decode() == before


def _read_only_prefix(folder: Path) -> tuple[str, ...] | None:
    """A command prefix that runs a command with `folder` read-only, or None when impossible here."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return ()
    # root ignores permission bits: use a read-only bind mount in a private user+mount namespace
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode != 0:
        return None
    quoted = str(folder).replace("'", "'\\''")
    return (unshare, "-rm", "sh", "-c",
            f"mount --bind '{quoted}' '{quoted}' && mount -o remount,ro,bind '{quoted}' && cd / && exec \"$@\"", "sh")


def test_a_store_on_a_read_only_folder_can_still_be_queried(store):
    root = store["root"]
    before = ok(run_cli(root, "runs", "-f", "csv"))
    mlnb.store.store.Store.open(root).close()
    prefix = _read_only_prefix(root)
    if prefix is None:
        pytest.skip("running as root without user namespaces: cannot make a folder read-only")
    try:
        listed = run_script("--store", str(root), "runs", "-f", "csv", prefix=prefix)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.decode() == before
        warning = listed.stderr.decode().strip().splitlines()
        assert len(warning) == 1 and warning[0].startswith("warning: ") and "read-only" in warning[0] \
            and "stale" in warning[0], warning
        counted = run_script("--store", str(root), "sql", "SELECT count(*) AS n FROM runs", "-f", "csv", prefix=prefix)
        assert counted.returncode == 0 and counted.stdout.decode() == "n\n4\n", counted.stderr
        assert_one_line_stderr(run_script("--store", str(root), "store", "rebuild", prefix=prefix), "read-only")
        # without an index there is nothing to read: one line that says what to do
        root.chmod(0o755)
        (root / "mlnb.duckdb").unlink()
        prefix = _read_only_prefix(root)
        assert_one_line_stderr(run_script("--store", str(root), "runs", prefix=prefix), "read-only", "no index")
    finally:
        root.chmod(0o755)


KILLED_WRITER = """
import shutil, sys, time
import mlnb

def copy_then_hang(src, dst, length=0):  # the process dies in the middle of copying an artifact
    dst.write(src.read(1 << 20))
    dst.flush()
    print("copying", flush=True)
    time.sleep(600)

shutil.copyfileobj = copy_then_hang
mlnb.connect(sys.argv[1])
with mlnb.start_run(experiment="killed"):
    mlnb.log_artifact(sys.argv[2])
"""


def _leftovers(root: Path) -> list[Path]:
    """Files under artifacts/ that are not blobs (a blob is named by its 64-hex digest)."""
    return [p for p in (root / "artifacts").rglob("*") if p.is_file() and not re.fullmatch(r"[0-9a-f]{64}", p.name)]


def test_temp_file_of_a_killed_log_artifact_is_found_and_removed(store, tmp_path):
    root = store["root"]
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(4 << 20))
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(root), str(big)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout.readline().strip() == "copying"
        left = _leftovers(root)
        assert len(left) == 1 and left[0].stat().st_size == 1 << 20
        assert left[0].parent == root / "artifacts" / "tmp" and left[0].name.startswith(f"{writer.pid}-")
        # while its writer lives, a temp file is left alone
        assert run_script("--store", str(root), "runs").returncode == 0
        assert _leftovers(root) == left
        status = json.loads(run_script("--store", str(root), "store", "status", "--format", "json").stdout)
        assert status["artifacts_being_written"] == 1 and status["artifact_blobs"] == 2  # not counted as a blob
    finally:
        writer.kill()
        writer.wait(timeout=30)
    # the next process that opens the store removes what the dead writer left, and nothing else
    assert run_script("--store", str(root), "runs").returncode == 0
    assert _leftovers(root) == []
    assert len([p for p in (root / "artifacts").rglob("*") if p.is_file()]) == 2  # the blobs are kept


def test_invalid_utf8_query_on_stdin_is_one_line_error(store):
    done = subprocess.run([console_script(), "--store", str(store["root"]), "sql", "-"], input=b"SELECT '\xff'",
                          capture_output=True, timeout=120)
    assert_one_line_stderr(done, "stdin is not valid UTF-8")


def test_an_unexpected_error_is_still_one_line(store, monkeypatch):
    from mlnb.store import queries

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(queries, "runs", broken)
    assert_one_line_error(run_cli(store["root"], "runs"), "unexpected RuntimeError: boom second line", "MLNB_DEBUG")
    monkeypatch.setenv("MLNB_DEBUG", "1")
    assert isinstance(run_cli(store["root"], "runs").exception, RuntimeError)


@pytest.mark.parametrize("module", ["mlnb", "mlnb.cli"])
def test_python_dash_m_runs_every_command_group(store, module):
    # `python -m mlnb.cli` once died of a circular import between cli and cli_models
    done = subprocess.run([sys.executable, "-m", module, "--store", str(store["root"]), "models"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
