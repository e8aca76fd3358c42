"""`mlnb.Project`: connect() returns the current project, `with` blocks scope it, threads see it,
and every public function takes `project=` (real stores in tmp_path, the real CLI)."""
from __future__ import annotations

import inspect
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlnb
from mlnb.cli import cli
from mlnb.errors import InvalidValueError, NoActiveRunError
from mlnb.project import Project, current
from tests.projectutil import connected_project

TESTS = Path(__file__).resolve().parent

# The public names `project=` is checked on (the registry's names are checked by the registry tests).
WALKED = ("start_run", "end_run", "active_run", "log_params", "log_param", "log_metrics", "log_metric",
          "set_tags", "set_tag", "log_artifact", "runs", "get_run", "metric_history", "experiments", "sql",
          "compare", "diff", "lineage", "evaluate", "pipeline_view",
          "profile", "drift", "validate", "monitor", "monitoring", "drift_report",
          "log_feedback", "rendezvous", "traffic", "replay")
WALKED += ("serve",)  # serving (http)
WALKED += ("rendezvous_report",)  # serving's faces
REGISTRY = {"register_model", "load_model", "model_version", "set_alias", "delete_alias", "update_version",
            "archive_version", "models", "model_versions", "alias_history", "registry"}
# Public names that are not store functions: the project itself, classes, and process-wide helpers.
NOT_STORE_FUNCTIONS = {"connect", "Project", "Run", "fingerprint", "close", "MlnbError", "__version__"}


@pytest.fixture
def other(tmp_path: Path) -> Project:
    """A second project next to the `project` fixture's (not connected)."""
    second = Project.open(tmp_path / "other" / ".mlnb", create=True)
    yield second
    second.forget()


def test_connect_returns_the_project_and_makes_it_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLNB_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    with connected_project(tmp_path / "a" / ".mlnb") as a:
        # Given a connected project
        assert isinstance(a, mlnb.Project) and isinstance(a, Project)
        assert current() is a and a.url == str((tmp_path / "a" / ".mlnb").resolve())
        # When a run is started without naming a project, Then it is logged there
        with mlnb.start_run(name="here") as run:
            pass
        assert run.project is a
        assert mlnb.runs(project=a)["name"].tolist() == ["here"]


def test_with_blocks_scope_the_current_project_and_restore_it(project: Project, other: Project) -> None:
    # Given `project` connected
    assert current() is project
    # When another is used in a block, Then it is current inside only
    with other.use():
        assert current() is other
        with mlnb.start_run(name="in-other"):
            pass
    assert current() is project
    with other:
        assert current() is other
    assert current() is project
    # And `with mlnb.connect(...)` connects for the block, then the project connected before is back
    with mlnb.connect(other.url) as connected:
        assert connected is other and current() is other
        with mlnb.start_run(name="connected-block"):
            pass
    assert current() is project
    assert sorted(mlnb.runs(project=other)["name"]) == ["connected-block", "in-other"]
    assert mlnb.runs()["name"].tolist() == []
    # And a plain connect() (no block) stays in effect
    mlnb.connect(other)
    assert current() is other


def test_a_worker_thread_sees_the_connected_project(project: Project, other: Project) -> None:
    # Given `other` connected for the process (it was not current when the thread's context was made)
    mlnb.connect(other)
    seen: list[object] = []

    def work() -> None:
        seen.append(current())
        with mlnb.start_run(name="from-thread"):
            pass

    # When a worker thread logs a run without naming a project
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    # Then it used the connected project
    assert seen == [other]
    assert mlnb.runs(project=other)["name"].tolist() == ["from-thread"]
    assert mlnb.runs(project=project)["name"].tolist() == []


def test_two_projects_in_one_process_log_to_the_right_stores(project: Project, other: Project) -> None:
    # Given two projects, `project` current
    # When runs are logged with project= (a Project and a path), one nested in the other's run
    with mlnb.start_run(name="outer", params={"where": "current"}) as outer:
        with mlnb.start_run(name="inner", project=other) as inner:
            mlnb.log_metric("acc", 0.5)  # the innermost active run: other's
            mlnb.log_metric("loss", 0.1, project=project)  # the active run of `project`: outer
            mlnb.set_tag("side", "other", project=other.url)
        mlnb.log_param("after", 1)
    # Then each run is in its own store, with what was logged to it, and no parent across stores
    mine, theirs = mlnb.get_run(outer.id, project=project), mlnb.get_run(inner.id, project=other)
    assert inner.parent_id is None and inner.project is other and outer.project is project
    assert mine.metrics == {"loss": 0.1} and mine.params == {"where": "current", "after": "1"}
    assert theirs.metrics == {"acc": 0.5} and theirs.tags.get("side") == "other"
    assert mlnb.runs(project=other)["name"].tolist() == ["inner"]
    assert mlnb.runs()["name"].tolist() == ["outer"]
    assert mlnb.metric_history(inner.id, "acc", project=other)["value"].tolist() == [0.5]
    assert mlnb.experiments(project=other)["runs"].sum() == 1
    assert mlnb.sql("SELECT count(*) AS n FROM runs", project=str(other.root))["n"][0] == 1
    # And a project without an active run says so in one line
    with pytest.raises(NoActiveRunError, match="no active run in .*other"):
        mlnb.log_metric("x", 1.0, project=other)


def test_every_public_function_takes_project() -> None:
    # Given the public names of mlnb (the registry's are checked with the registry)
    public = set(mlnb.__all__) - REGISTRY - NOT_STORE_FUNCTIONS
    assert public == set(WALKED), "a public function was added or removed: list it here"
    # Then each accepts project=, defaulting to the current project
    missing = [name for name in WALKED
               if inspect.signature(getattr(mlnb, name)).parameters.get("project") is None]
    assert not missing, f"no project= on {missing}"
    for name in WALKED:
        parameter = inspect.signature(getattr(mlnb, name)).parameters["project"]
        assert parameter.default is None and parameter.kind != parameter.VAR_KEYWORD, name
    assert isinstance(mlnb.Run.project, property)  # and a run knows its project


@pytest.mark.parametrize("call", [
    lambda: mlnb.runs(project=3),
    lambda: mlnb.start_run(project=3),
    lambda: mlnb.sql("SELECT 1", project=3),
    lambda: mlnb.connect(3),
    lambda: mlnb.diff("a", "b", project=3),
    lambda: mlnb.pipeline_view("x.yaml", project=3),
])
def test_a_bad_project_is_one_clear_line(project: Project, call) -> None:
    with pytest.raises(InvalidValueError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and "project" in message and "int" in message
    assert mlnb.runs()["name"].tolist() == []  # nothing was logged anywhere


def test_a_cli_command_with_store_leaves_the_current_project(project: Project, other: Project) -> None:
    # Given `project` current and a model registered in `other`
    with other.use(), mlnb.start_run(name="trainer"):
        mlnb.register_model({"w": [1, 2]}, "clf")
    # When CLI commands run in this process against `other` with --store
    for args in (["runs"], ["models"], ["models", "show", "clf"], ["models", "alias", "clf", "champion", "1"]):
        result = CliRunner().invoke(cli, ["--store", other.url, *args])
        assert result.exit_code == 0, result.output
        # Then the process's current project is unchanged
        assert current() is project, args
    assert "trainer" in CliRunner().invoke(cli, ["--store", other.url, "runs"]).output
    assert mlnb.runs()["name"].tolist() == []


def test_tests_use_no_private_global_of_tracking() -> None:
    # Nothing outside the package reaches into mlnb.tracking's (or mlnb.project's) private names
    private = re.compile(r"\btracking\._\w+|from mlnb\.tracking import [^\n]*\b_\w+|\b_default_store\b"
                         r"|\bproject\._(scoped|process_default|entered|connects)\b")
    offenders = [f"{path.relative_to(TESTS)}:{number}"
                 for path in sorted(TESTS.rglob("*.py")) if path.name != Path(__file__).name
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if private.search(line)]
    assert not offenders, offenders


def test_a_project_offers_the_public_functions_bound_to_itself(tmp_path: Path) -> None:
    """`project.runs()` is `mlnb.runs(project=project)`: the Project owns its queries and registry."""
    first = Project.open(tmp_path / "a", create=True)
    second = Project.open(tmp_path / "b", create=True)
    try:
        with second.start_run(name="in-b"):
            second.log_metric("m", 2.0)
        assert list(second.runs()["name"]) == ["in-b"]
        assert first.runs().empty
        assert list(mlnb.runs(project=second)["run_id"]) == list(second.runs()["run_id"])
        assert "register_model" in dir(second) and "runs" in dir(second)
        with pytest.raises(AttributeError):
            second.connect  # noqa: B018 - takes no project=, so it is not bound
        with pytest.raises(AttributeError):
            second.no_such_function  # noqa: B018
    finally:
        first.forget()
        second.forget()
