"""No planted secret reaches the store: a real notebook run from its file inside a git repository
with uncommitted changes, and the same through `mlnb run -p api_token=...`.

Every planted value is first shown to be really produced (in the saved notebook, the git diff or
the kernel's output), then every file of the store (events, blobs, the DuckDB index, .mlnb/batch)
is searched byte by byte for it. Values use only [A-Za-z0-9-] so a JSON-encoded copy would be
found by the byte search too.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mlnb
from mlnb.store.store import Store
from tests.nbutil import execute

pytestmark = pytest.mark.slow

# one distinct value per shape, so a leak names the shape that leaked
S = {
    "env_before_start": "envtok-9f8e7d6c5b4a3210",            # set before the kernel starts, printed
    "env_after_start": "lateenv-Q7w8E9r0T1y2U3",             # the load_dotenv pattern, printed
    "literal_printed": "litkey-Zx81Cv72Bn63Mm",              # API_KEY = "..."; print(API_KEY)
    "before_start_literal": "prekey-Lp09Ok18Ij27Uh",         # assigned before %track start, printed after
    "literal_fstring": "fstr-Pq19Wo28Ie37Ru46",              # SERVICE_SECRET in an f-string
    "db_pass_name": "dbpass-Aa11Bb22Cc33Dd",                 # DB_PASS = "..." (name without "word")
    "exception_message": "excmsg-Hh44Jj55Kk66Ll",            # raise RuntimeError(f"... {AUTH_TOKEN}")
    "url_api_key": "urlkey-Mm77Nn88Oo99Pp",                  # ...?api_key=...&page=2
    "url_amp_token": "urltok-Rr12Ss34Tt56Uu",                # ...&token=...
    "param_password": "prmpw-Vv78Ww90Xx12Yy",                # param "host=db password=..."
    "stderr_logging": "Zq81xk-v7Lm2p-logged",                 # logging to stderr: "password=%s"
    "svg_output": "svgsec-Gg13Ff24Ee35Dd",                   # text inside an SVG output
    "plotly_title": "plotly-Cc46Bb57Aa68Zz",                 # a plotly figure's title
    "plotly_accesstoken": "pk-Yy79Xx80Ww91Vv02",             # plotly mapbox accesstoken (by key)
    "html_output": "htmlsec-Uu13Tt24Ss35Rr",                 # display(HTML(...)) of a secret
    "variable_alias": "alias-Qq46Pp57Oo68Nn9",               # x = ALIAS_KEY (not a sensitive name)
    "bearer_header": "bearer0a1b2c3d4e5f6a7b8c",             # {"Authorization": "Bearer ..."}
    "aws_key_id": "AKIAIOSFODNN7EXAMPLE",                    # token format
    "github_token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "dsn_password": "dsnpw-Mm80Ll91Kk02Jj",                  # postgresql://u:...@h/db
    "tag_value": "tagtok-Ii13Hh24Gg35Ff",                    # mlnb.set_tags(deploy_token=...)
    "notebook_metadata": "nbmeta-Ee46Dd57Cc68Bb",            # a secret in the notebook's metadata
    "cell_metadata": "cellmeta-Aa79Zz80Yy91X",               # a secret in a cell's metadata
    "diff_plus": "diffplus-Ww02Vv13Uu24T",                   # +DB_PASSWORD=... in git diff
    "diff_minus": "diffminus-Ss35Rr46Qq57P",                 # -DB_PASSWORD=... (the committed value)
    "diff_yaml": "diffyaml-Oo68Nn79Mm80L",                   # +  api_token: ... in a YAML diff
    "diff_notebook_literal": "diffnb-Kk91Jj02Ii13Hh",        # "API_TOKEN_2 = \"...\"" in the notebook's diff
    "error_password": "tbmsg-Gg24Ff35Ee46Dd",               # "password=..." built at run time, in an error
}
B = {  # the `mlnb run` part
    "cli_api_token": "clitok-Cc57Bb68Aa79Zz",                # -p api_token=...
    "cli_password_in_value": "clipw-Yy80Xx91Ww02Vv",         # -p conn="host=db password=..."
    "cli_numeric_token": "987654321012345",                   # -p numeric_token=987654321012345 (an int)
    "batch_late_env": "batchenv-Uu13Tt24Ss35R",              # set in the kernel's environment, printed
    "batch_failed_env": "failenv-Qq46Pp57Oo68N",             # same, in a run that fails afterwards
}
GH, AWS = S["github_token"], S["aws_key_id"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _interactive_cells() -> list[str]:
    return [
        "%load_ext mlnb",
        f"PRE_API_KEY = '{S['before_start_literal']}'",
        "%track start --name e2e",
        # the load_dotenv pattern: a secret enters the environment after the run started
        "import os\nfor line in open('late.env').read().split():\n    name, value = line.split('=', 1)\n"
        "    os.environ[name] = value\nprint('late', os.environ['LATE_SERVICE_TOKEN'])\n"
        "print('early', os.environ['MY_SERVICE_TOKEN'])",
        f"API_KEY = \"{S['literal_printed']}\"\nprint(API_KEY)\nprint('before start', PRE_API_KEY)\n"
        f"SERVICE_SECRET = '{S['literal_fstring']}'\nprint(f'connecting with {{SERVICE_SECRET}} now')\n"
        f"DB_PASS = \"{S['db_pass_name']}\"\nprint('db', DB_PASS)\n"
        f"API_TOKEN_2 = \"{S['diff_notebook_literal']}\"",
        f"url = 'https://api.example.com/v1/data?api_key={S['url_api_key']}&page=2&token={S['url_amp_token']}'\n"
        "print(url)\nimport mlnb\nmlnb.log_param('endpoint', url)",
        f"conn = 'host=db user=ml password={S['param_password']} sslmode=require'\n%track params conn",
        "import logging, sys\nlog = logging.getLogger('e2e')\nlog.addHandler(logging.StreamHandler(sys.stderr))\n"
        "attempt = '-'.join(['Zq81xk', 'v7Lm2p', 'logged'])\nlog.warning('retrying with password=%s', attempt)",
        f"PLOT_SECRET = '{S['svg_output']}'\nfrom IPython.display import SVG, HTML, display\n"
        "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><text>'"
        " + PLOT_SECRET + '</text></svg>'))\n"
        f"HTML_KEY = '{S['html_output']}'\ndisplay(HTML('<b>' + HTML_KEY + '</b>'))",
        "import plotly.graph_objects as go\n"
        f"HF_TOKEN = '{S['plotly_title']}'\nfig = go.Figure(go.Bar(y=[1, 2]), layout_title_text='token ' + HF_TOKEN)\n"
        "figure = fig.to_dict()\nfigure['layout']['mapbox'] = {'accesstoken': os.environ['MAPBOX_ACCESS']}\n"
        "display({'application/vnd.plotly.v1+json': figure, 'text/plain': 'a figure'}, raw=True)",
        f"ALIAS_KEY = '{S['variable_alias']}'\nx = ALIAS_KEY\nx",
        f"headers = {{'Authorization': 'Bearer {S['bearer_header']}'}}\n"
        f"aws = '{AWS}'\ngh = '{GH}'\ndsn = 'postgresql://ml:{S['dsn_password']}@db:5432/x'\nprint(aws, gh, dsn)",
        "%track params API_KEY DB_PASS gh",
        "mlnb.set_tags(deploy_token=os.environ['DEPLOY_TOKEN'])",
        f"AUTH_TOKEN = '{S['exception_message']}'\nraise RuntimeError(f'login refused for {{AUTH_TOKEN}}')",
        "def connect(parts):\n    raise ValueError('refused: password=' + ''.join(parts))\n"
        "connect(['tbmsg-Gg24', 'Ff35Ee46Dd'])",
        "%track stop",
    ]


def _execute_with_autosave(path: Path, env: dict[str, str]) -> str:
    """Run the notebook file in a real kernel, saving it after every cell as JupyterLab does, so the
    snapshot is built from the file with its outputs. Returns the file's final text."""
    execute(path, env, allow_errors=True, autosave=True)
    return path.read_text()


def _store_files_containing(store_root: Path, secrets: dict[str, str]) -> dict[str, list[str]]:
    """Planted name -> the store files whose bytes contain its value."""
    found: dict[str, list[str]] = {}
    for file in sorted(store_root.rglob("*")):
        if file.is_file():
            data = file.read_bytes()
            for name, secret in secrets.items():
                if secret.encode() in data:
                    found.setdefault(name, []).append(str(file.relative_to(store_root)))
    return found


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a committed notebook, env file and settings, and a store inside it."""
    import nbformat

    from tests.nbutil import make_notebook

    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / ".gitignore").write_text(".mlnb/\nlate.env\n")
    (tmp_path / "config.env").write_text(f"DB_HOST=db\nDB_PASSWORD={S['diff_minus']}\n")
    (tmp_path / "settings.yaml").write_text("model:\n  lr: 0.1\n")
    make_notebook(["%load_ext mlnb", "%track start", "print('draft')"], tmp_path / "analysis.ipynb")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "first")
    # uncommitted changes: a new password, a token in YAML, the notebook rewritten
    (tmp_path / "config.env").write_text(f"DB_HOST=db\nDB_PASSWORD={S['diff_plus']}\n")
    (tmp_path / "settings.yaml").write_text(f"model:\n  lr: 0.1\n  api_token: {S['diff_yaml']}\n")
    (tmp_path / "late.env").write_text(f"LATE_SERVICE_TOKEN={S['env_after_start']}\n")
    path = make_notebook(_interactive_cells(), tmp_path / "analysis.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.metadata["connection"] = {"host": "db", "password": S["notebook_metadata"]}
    nb.cells[3].metadata["note"] = f"uses api_key={S['cell_metadata']}"
    nbformat.write(nb, path)
    return tmp_path


def test_notebook_from_a_file_in_git_leaks_nothing(store: Store, repo: Path) -> None:
    # Given a notebook file in a git repository with uncommitted changes, run in a real kernel
    path = repo / "analysis.ipynb"
    env = {"MLNB_HOME": str(store.root), "JPY_SESSION_NAME": str(path), "MY_SERVICE_TOKEN": S["env_before_start"],
           "MAPBOX_ACCESS": S["plotly_accesstoken"], "DEPLOY_TOKEN": S["tag_value"]}
    saved = _execute_with_autosave(path, env)
    diff = _git(repo, "diff", "HEAD")
    # every planted value was really produced: in the saved notebook (code, outputs, metadata) or the diff
    produced = saved + diff + json.dumps(env)  # (the tag's value goes straight to the API)
    assert [name for name, secret in S.items() if secret not in produced] == []
    assert f"+DB_PASSWORD={S['diff_plus']}" in diff and f"-DB_PASSWORD={S['diff_minus']}" in diff
    assert "image/svg+xml" in saved and "application/vnd.plotly.v1+json" in saved and '"ename"' in saved
    # When the run is indexed
    run_id = mlnb.runs(filter="name = 'e2e'").iloc[0]["run_id"]
    record = mlnb.get_run(run_id)
    artifacts = {a["path"]: a for a in record.artifacts}
    stored_diff = store.blobs.read_bytes(artifacts["environment/git.diff"]["hash"]).decode()
    snapshot = json.loads(store.blobs.read_bytes(artifacts["notebook.ipynb"]["hash"]))
    details = [json.loads(d) for d in mlnb.sql("SELECT details FROM cells WHERE run_id = ?", [run_id])["details"]]
    store.close()
    # Then no file of the store holds any planted value
    assert _store_files_containing(store.root, S) == {}
    # and what was stored is still there, masked
    assert record.params["conn"] == "host=db user=ml password=*** sslmode=require"
    assert record.params["API_KEY"] == "***" and record.tags["mlnb.env.git_dirty"] == "true"
    assert "+DB_PASSWORD=***" in stored_diff and "-DB_PASSWORD=***" in stored_diff
    outputs = [o for c in snapshot["cells"] for o in c.get("outputs", [])]
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)  # built from the file, with outputs
    assert any(o.get("output_type") == "error" for o in outputs)
    kinds = {o["artifact"]["media_type"] for d in details for o in d["outputs"] if "artifact" in o}
    assert {"image/svg+xml", "application/vnd.plotly.v1+json"} <= kinds


def _batch_notebook(path: Path) -> Path:
    from tests.nbutil import make_notebook

    return make_notebook([
        "api_token = ''\nconn = ''\nnumeric_token = 0\nlate_value = ''\nfail = False",
        "import hashlib\nprint('token sha', hashlib.sha256(api_token.encode()).hexdigest()[:16])\n"
        "print('token', api_token)\nprint('numeric', numeric_token)\nprint(conn)",
        "import os\nos.environ['BATCH_SECRET_KEY'] = '-'.join(late_value.split('+'))\n"
        "print('late', os.environ['BATCH_SECRET_KEY'])",
        "if fail:\n    raise RuntimeError('stopped after printing')",
    ], path, tags={0: ["parameters"]})


def _mlnb_run(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                         os.environ.get("PYTHONPATH")]))}
    # the `mlnb` console script's entry point, in a process of its own (as a user runs it)
    command = [sys.executable, "-c", "import sys; from mlnb.cli import main; main(sys.argv[1:])"]
    return subprocess.run([*command, "--store", str(store.root), "run", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_mlnb_run_with_secret_parameters_leaks_nothing(store: Store, tmp_path: Path) -> None:
    # Given a notebook run by `mlnb run` with secret parameters, one of which it puts in its environment
    notebook = _batch_notebook(tmp_path / "job.ipynb")
    late = B["batch_late_env"].replace("-", "+")
    done = _mlnb_run(store, str(notebook), "-p", f"api_token={B['cli_api_token']}",
                     "-p", f"conn=host=db password={B['cli_password_in_value']}",
                     "-p", f"numeric_token={B['cli_numeric_token']}", "-p", f"late_value={late}")
    assert done.returncode == 0, done.stderr
    failed = _mlnb_run(store, str(notebook), "-p", f"late_value={B['batch_failed_env'].replace('-', '+')}",
                       "-p", "fail=true")
    assert failed.returncode == 1 and "stopped after printing" in failed.stderr + failed.stdout
    runs = mlnb.runs().sort_values("start")
    ok_run, failed_run = runs["run_id"].tolist()
    executed = {r: mlnb.get_run(r) for r in (ok_run, failed_run)}
    stdout = "".join(json.loads(d)["stdout"] or "" for d in mlnb.sql(
        "SELECT details FROM cells WHERE run_id = ? ORDER BY seq", [ok_run])["details"])
    store.close()
    # Then no file of the store holds any planted value
    assert _store_files_containing(store.root, B) == {}
    # and the parameters did reach the kernel (it printed a digest of the token), masked in what is stored
    assert hashlib.sha256(B["cli_api_token"].encode()).hexdigest()[:16] in stdout
    assert "token ***" in stdout and "late ***" in stdout and "numeric ***" in stdout
    assert executed[ok_run].params["api_token"] == "***"
    assert executed[ok_run].params["conn"] == "host=db password=***"
    assert {"executed.ipynb", "notebook.ipynb"} <= {a["path"] for a in executed[ok_run].artifacts}
    assert "executed.ipynb" in {a["path"] for a in executed[failed_run].artifacts}  # stopped before its snapshot
    batch_copies = sorted((store.root / "batch").rglob("*.ipynb"))
    assert len(batch_copies) == 2  # the executed notebooks mlnb keeps there, redacted
    for copy in batch_copies:
        assert "***" in copy.read_text() and json.loads(copy.read_text())["cells"]


def test_secret_defined_before_the_run_started_is_masked_when_printed(store: Store, tmp_path: Path) -> None:
    # Given a key assigned (and another read into a variable) before `%track start`, outside git
    from tests.nbutil import execute, make_notebook

    early, fetched = "prestart-Lp09Ok18Ij27", "fetched-Mn34Bv56Cx78"
    path = make_notebook([
        "%load_ext mlnb",
        f"OPENAI_API_KEY = '{early}'\nimport os\nhf_token = os.environ['FETCHED_FROM_VAULT']",
        "%track start --name early",
        "print('keys', OPENAI_API_KEY, hf_token)",
        "%track stop",
    ], tmp_path / "early.ipynb")
    nb = execute(path, {"MLNB_HOME": str(store.root), "FETCHED_FROM_VAULT": fetched}, allow_errors=False)
    assert early in "".join(o.get("text", "") for o in nb.cells[3].outputs)  # the user sees it
    mlnb.runs()
    store.close()
    # Then the store holds neither
    assert _store_files_containing(store.root, {"early": early, "fetched": fetched}) == {}
