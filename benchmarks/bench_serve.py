"""Rendezvous serving under load: `mlnb serve` alone, with one shadow, and `mlflow models serve`.

    python benchmarks/bench_serve.py               # full run: every load 10 s or 50,000 requests (~2.5 min)
    python benchmarks/bench_serve.py --quick       # every load 3 s (a smoke run, ~1.5 min)
    python benchmarks/bench_serve.py --repeat 3 --json out.json   # the published numbers (~5 min)

Loopback only. A LogisticRegression on scikit-learn's wine data is registered in a fresh mlnb store
under `benchmarks/.work/serve/` (version 1, C=1.0, is `champion`; version 2, C=0.1, `challenger`)
and saved as an MLflow model (`mlflow.sklearn`, in `benchmarks/.venv-mlflow`, made on first use).
One load client (`_serve_client.py`: keep-alive raw-socket HTTP/1.1, single-row JSON requests in
each server's own format, N requests or T seconds, whichever first) runs in its own process against
these servers, all running at once and measured in turn (interleaved over the repeats):

    ceiling  a trivial server (`_serve_trivial.py`): the client's own limit
    (a)      mlnb serve wine@champion
    (b)      mlnb serve wine@champion --shadow wine@challenger
    (c)      mlflow models serve -m <dir> --env-manager local

at concurrency 1 and 8; then

    switch   (b) under sustained load at concurrency 8 while this process moves `champion` between
             versions 1 and 2 ten times, each move at least 0.5 s after the previous one and served
             (GET /models) before the next (failed requests must be 0).

After each mlnb server stops (SIGTERM: drain and flush), every request id
the client got a 200 for is looked up in the archive (`serve_answers` via `mlnb.sql`). Prints one
markdown table with the issue's targets; see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "serve"
STORE = WORK / ".mlnb"
MODEL = "wine"
CONCURRENCY = (1, 8)
SWITCHES = 10
SWITCH_EVERY_S = 0.5
SWITCH_TIMEOUT_S = 10.0  # a move not served by then counts as not switched
START_TIMEOUT_S = 120.0

sys.path.insert(0, str(HERE))
from _peers import MLFLOW_VENV, ensure_mlflow_venv, machine, package_versions  # noqa: E402
from _wine import CHALLENGER_C, CHAMPION_C, train, wine  # noqa: E402


def progress(message: str) -> None:
    """One progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Load:
    """How long each load runs: `requests` or `seconds`, whichever first; `repeat` times."""

    requests: int
    seconds: float
    repeat: int
    warmup: int = 20  # untimed requests per connection before each load


@dataclass
class Measured:
    """The repeats of one scenario at one concurrency (client results as `_serve_client` prints them)."""

    scenario: str
    concurrency: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    @property
    def rps(self) -> float:
        return self.median("rps") or 0.0

    @property
    def errors(self) -> int:
        return sum(r["errors"] for r in self.runs)

    def rps_text(self) -> str:
        values = sorted(r["rps"] for r in self.runs)
        spread = f" ({values[0]:,.0f}-{values[-1]:,.0f})" if len(values) > 1 else ""
        return f"{self.rps:,.0f}{spread}"


# ---------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlnb_env() -> dict[str, str]:
    """This process's environment with the benchmark's store and no other mlnb overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")}
    env["MLNB_HOME"] = str(STORE)
    return env


def mlflow_env() -> dict[str, str]:
    """MLflow's venv first on PATH (it starts `uvicorn` by name); telemetry off (no network here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(PATH=f"{MLFLOW_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}", MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true")
    return env


@contextmanager
def server(name: str, command: list[str], env: dict[str, str], health: str) -> Iterator[int]:
    """Run `command` (a server; `{port}` in it becomes a free port) in its own session until the
    block ends; yields the port once GET `health` answers 200. Stopped with SIGTERM to its process group (graceful), SIGKILL
    after 30 s."""
    log = WORK / f"{name}.log"
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=WORK,
                                start_new_session=True)
    try:
        started = time.perf_counter()
        while not _healthy(port, health):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} before answering; see {log}:\n"
                                   + log.read_text()[-2000:])
            if time.perf_counter() - started > START_TIMEOUT_S:
                raise RuntimeError(f"{name} did not answer {health} within {START_TIMEOUT_S:.0f} s; see {log}")
            time.sleep(0.2)
        progress(f"  {name} up on port {port} after {time.perf_counter() - started:.1f} s")
        yield port
    finally:
        stop(proc, name)


def stop(proc: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM to the server's process group (mlnb drains and flushes on it), SIGKILL after 30 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        progress(f"  {name} still running 30 s after SIGTERM: killing it")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _healthy(port: int, path: str) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def mlnb_serve(shadow: bool, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "mlnb.cli", "serve", f"{MODEL}@champion", "--port", "{port}"]
    if shadow:
        command += ["--shadow", f"{MODEL}@challenger"]
    if args.workers != 1:
        command += ["--workers", str(args.workers)]
    return command


# ---------------------------------------------------------------- the client

def load(port: int, style: str, path: str, concurrency: int, loads: Load, ids_file: Path | None = None,
         stop_file: Path | None = None) -> dict[str, Any]:
    """One run of the load client in its own process."""
    spec = {"port": port, "path": path, "style": style, "concurrency": concurrency, "requests": loads.requests,
            "seconds": loads.seconds, "warmup": loads.warmup, "ids_file": str(ids_file) if ids_file else None,
            "stop_file": str(stop_file) if stop_file else None}
    proc = subprocess.run([sys.executable, str(HERE / "_serve_client.py"), json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["loadavg"] = os.getloadavg()[0]
    return result


@dataclass(frozen=True)
class UnderTest:
    """A running server under test: its scenario name, port, request style and path."""

    scenario: str
    port: int
    style: str
    path: str


def measure(servers: list[UnderTest], loads: Load) -> tuple[list[Measured], dict[tuple[str, int], list[Path]]]:
    """Every server at both concurrencies, `loads.repeat` times, interleaved (repeat, concurrency,
    server), so a change in the machine's load (it is shared) hits every server alike."""
    measured = {(t.scenario, c): Measured(t.scenario, c) for t in servers for c in CONCURRENCY}
    ids: dict[tuple[str, int], list[Path]] = {}
    for attempt in range(loads.repeat):
        for concurrency in CONCURRENCY:
            for t in servers:
                ids_file = WORK / f"ids-{t.scenario}-c{concurrency}-{attempt}.txt" if t.style == "mlnb" else None
                result = load(t.port, t.style, t.path, concurrency, loads, ids_file=ids_file)
                if ids_file is not None and t.scenario != "ceiling":
                    ids.setdefault((t.scenario, concurrency), []).append(ids_file)
                measured[(t.scenario, concurrency)].runs.append(result)
                progress(f"  {t.scenario} c={concurrency} run {attempt + 1}: {result['rps']:,.0f} req/s, "
                         f"p50 {result['p50_ms'] or 0:.2f} ms, p99 {result['p99_ms'] or 0:.2f} ms, "
                         f"{result['errors']} errors (load average {result['loadavg']:.1f})")
    return list(measured.values()), ids


# ---------------------------------------------------------------- setup

def setup_store() -> None:
    """A fresh store with wine/1 (champion) and wine/2 (challenger), registered with their data."""
    import mlnb

    x, _ = wine()
    mlnb.connect(STORE)
    champion = mlnb.register_model(train(CHAMPION_C), MODEL, data=x, description=f"LogisticRegression C={CHAMPION_C}")
    challenger = mlnb.register_model(train(CHALLENGER_C), MODEL, data=x,
                                     description=f"LogisticRegression C={CHALLENGER_C}")
    mlnb.set_alias(MODEL, "champion", int(champion["version"]))
    mlnb.set_alias(MODEL, "challenger", int(challenger["version"]))
    progress(f"  registered {MODEL}/1 (champion, flavor {champion.get('flavor')}) and {MODEL}/2 (challenger)")


def setup_mlflow_model(python: Path) -> Path:
    """The champion saved with mlflow.sklearn in the MLflow venv."""
    target = WORK / "mlflow-model"
    subprocess.run([str(python), str(HERE / "_mlflow_serve_side.py"), str(target)], check=True, env=mlflow_env(),
                   capture_output=True)
    return target


# ---------------------------------------------------------------- scenarios

def scenario_switch(port: int, loads: Load) -> dict[str, Any]:
    """Sustained load at concurrency 8 while `champion` moves 1 -> 2 -> 1 ... ten times: each move
    waits until the server serves the new version (GET /models), and moves are SWITCH_EVERY_S apart
    (more when a switch takes longer), so every move is a switch of its own."""
    import mlnb

    stop_file = WORK / "switch.stop"
    moves: list[dict[str, Any]] = []

    def switcher() -> None:
        try:
            time.sleep(1.0)
            for k in range(SWITCHES):
                version = 2 if k % 2 == 0 else 1
                moved = time.perf_counter()
                mlnb.set_alias(MODEL, "champion", version)
                seen = _wait_served(port, version, SWITCH_TIMEOUT_S)
                moves.append({"to": version, "seen_after_s": seen})
                time.sleep(max(0.0, SWITCH_EVERY_S - (time.perf_counter() - moved)))
            time.sleep(1.0)
        finally:
            stop_file.touch()

    thread = threading.Thread(target=switcher)
    thread.start()
    ids_file = WORK / "ids-switch.txt"
    result = load(port, "mlnb", "/predict", 8, Load(10**9, 1.0 + SWITCHES * (SWITCH_TIMEOUT_S + SWITCH_EVERY_S), 1,
                                                     loads.warmup), ids_file=ids_file, stop_file=stop_file)
    thread.join()
    waits = [m["seen_after_s"] for m in moves if m["seen_after_s"] is not None]
    result.update(moves=len(moves), seen=len(waits), ids_file=str(ids_file),
                  seen_median_s=statistics.median(waits) if waits else None, seen_max_s=max(waits) if waits else None)
    progress(f"  switch: {len(moves)} alias moves ({len(waits)} served within {SWITCH_TIMEOUT_S:.0f} s), "
             f"{result['requests']:,} requests, {result['errors']} failed, answered by versions {result['versions']}")
    return result


def _wait_served(port: int, version: int, timeout_s: float) -> float | None:
    """Seconds until GET /models shows `champion` at `version` (None: not within `timeout_s`)."""
    import http.client

    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        while time.perf_counter() - started < timeout_s:
            conn.request("GET", "/models")
            served = json.loads(conn.getresponse().read())["served"]
            if any(s["alias"] == "champion" and s["version"] == version for s in served):
                return time.perf_counter() - started
            time.sleep(0.02)
    finally:
        conn.close()
    return None


def archive_check(ids_files: list[Path], answered: int) -> dict[str, Any]:
    """How many of the 200 responses' request ids are rows of `serve_answers` (after the stop)."""
    import mlnb

    ids = [line for f in ids_files for line in f.read_text().split() if line]
    wanted = set(ids)
    rows = mlnb.sql("SELECT request_id, status FROM serve_answers WHERE model = ?", [MODEL])
    found = rows[rows["request_id"].isin(wanted)]
    return {"answered": answered, "ids": len(ids), "unique_ids": len(wanted), "archived": int(found["request_id"].nunique()),
            "archived_ok": int((found["status"] == "ok").sum()), "archive_rows": len(rows)}


def server_side(ids: dict[tuple[str, int], list[Path]]) -> dict[str, dict[str, float | None]]:
    """From the archive, per mlnb scenario and concurrency: percentiles of the answer's time inside
    the server (request received -> answer decided: parsing, validation, fan-out, batching, predict,
    rendezvous), and of the returned version's own time (queued in its batcher + predict)."""
    import mlnb

    frame = mlnb.sql(
        "SELECT a.request_id, a.ms AS answer_ms, r.ms AS version_ms FROM serve_answers a "
        "JOIN serve_results r ON r.request_id = a.request_id AND r.returned WHERE a.model = ? AND a.status = 'ok'",
        [MODEL]).set_index("request_id")
    out: dict[str, dict[str, float | None]] = {}
    for (scenario, concurrency), files in ids.items():
        wanted = [line for f in files for line in f.read_text().split() if line]
        rows = frame.loc[frame.index.intersection(wanted)]
        out[f"{scenario}-c{concurrency}"] = {
            f"{column}_{name}": (float(rows[column].quantile(q)) if len(rows) else None)
            for column in ("answer_ms", "version_ms") for name, q in (("p50", 0.5), ("p99", 0.99))}
    return out


def switches_recorded() -> dict[str, Any]:
    """The switches the server archived for `champion`: how many per status, and their durations."""
    import mlnb

    rows = mlnb.sql("SELECT status, ms FROM serve_switches WHERE model = ? AND alias = 'champion'", [MODEL])
    switched = rows[rows["status"] == "switched"]["ms"]
    return {"statuses": rows["status"].value_counts().to_dict(), "switched": len(switched),
            "median_ms": float(switched.median()) if len(switched) else None,
            "max_ms": float(switched.max()) if len(switched) else None}


# ---------------------------------------------------------------- output

@dataclass
class Line:
    """One table row: scenario, concurrency, req/s, p50, p99, errors, target and verdict."""

    label: str
    concurrency: str = "-"
    rps: str = "-"
    p50: str = "-"
    p99: str = "-"
    errors: str = "-"
    target: str = "-"

    def cells(self) -> list[str]:
        return [self.label, self.concurrency, self.rps, self.p50, self.p99, self.errors, self.target]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def verdict(label: str, met: bool | None) -> str:
    return f"{label}: {'n/a' if met is None else 'PASS' if met else 'MISS'}"


def measured_line(m: Measured, label: str, target: str = "info") -> Line:
    return Line(label, str(m.concurrency), m.rps_text(), ms(m.median("p50_ms")), ms(m.median("p99_ms")),
                str(m.errors), target)


def build_lines(results: dict[str, Any]) -> list[Line]:
    lines: list[Line] = []
    by = {(m.scenario, m.concurrency): m for m in results.get("measured", [])}
    labels = {"ceiling": "client ceiling: trivial keep-alive server", "a": "(a) `mlnb serve wine@champion`",
              "b": "(b) (a) + `--shadow wine@challenger`", "c": "(c) `mlflow models serve --env-manager local`"}
    for scenario in ("ceiling", "a", "b", "c"):
        for concurrency in CONCURRENCY:
            m = by.get((scenario, concurrency))
            if m is None:
                continue
            target = "info"
            mlflow = by.get(("c", concurrency))
            if scenario == "b" and mlflow is not None and mlflow.rps:
                ratio = m.rps / mlflow.rps
                target = verdict(f">= 2x MLflow: {ratio:.1f}x", ratio >= 2.0)
            lines.append(measured_line(m, labels[scenario], target))
    inside = results.get("server_side") or {}
    for concurrency in CONCURRENCY:
        a, b = by.get(("a", concurrency)), by.get(("b", concurrency))
        sa, sb = inside.get(f"a-c{concurrency}"), inside.get(f"b-c{concurrency}")
        if a is None or b is None or not sa or not sb or sa["answer_ms_p99"] is None or sb["answer_ms_p99"] is None:
            continue
        inner = sb["answer_ms_p99"] - sa["answer_ms_p99"]
        added = (b.median("p99_ms") or 0) - (a.median("p99_ms") or 0)
        label = (f"p99 added by the shadow's rendezvous: (b) - (a) as the client sees it; inside the server "
                 f"(archive, received -> answer decided) {inner:+.2f} ms (p99 {ms(sa['answer_ms_p99'])} -> "
                 f"{ms(sb['answer_ms_p99'])} ms; the returned version's own p99 {ms(sa['version_ms_p99'])} -> "
                 f"{ms(sb['version_ms_p99'])} ms)")
        target = verdict(f"<= 2 ms: {added:+.2f} ms", added <= 2.0) if concurrency == 1 else \
            f"info: {added:+.2f} ms (queueing at c={concurrency})"
        lines.append(Line(label, str(concurrency), p50=ms(b.median("p50_ms")), p99=ms(b.median("p99_ms")),
                          target=target))
    switch = results.get("switch")
    if switch:
        seen = ", ".join(f"v{k}: {v:,}" for k, v in sorted(switch["versions"].items()))
        recorded = switch.get("recorded") or {}
        seen_median = switch.get("seen_median_s")
        seen_max = switch.get("seen_max_s")
        lines.append(Line(f"sustained load, {switch['moves']} alias moves of `champion` between versions 1 and 2, "
                          f"at least {SWITCH_EVERY_S} s apart, each waiting until GET /models shows it (answered by "
                          f"{seen}; {switch['seen']} moves served, after {ms(seen_median * 1e3 if seen_median else None)} ms "
                          f"median, {ms(seen_max * 1e3 if seen_max else None)} ms longest; the server archived "
                          f"{recorded.get('switched', '?')} switches)", "8",
                          f"{switch['rps']:,.0f}", ms(switch["p50_ms"]), ms(switch["p99_ms"]), str(switch["errors"]),
                          verdict(f"0 lost in {switch['moves']} switches", switch["errors"] == 0
                                  and switch["moves"] == SWITCHES and switch["seen"] == SWITCHES)))
    archive = results.get("archive")
    if archive:
        share = archive["archived"] / archive["answered"] if archive["answered"] else 0.0
        lines.append(Line(f"archive: 200 responses of every mlnb load ({archive['answered']:,}) found in "
                          f"`serve_answers` after stop ({archive['archived']:,})", errors="-",
                          target=verdict(f"100% archived: {share:.2%}", archive["answered"] > 0
                                         and archive["archived"] == archive["answered"]
                                         and archive["unique_ids"] == archive["ids"])))
    return lines


def table(lines: list[Line]) -> str:
    head = ["scenario", "c", "req/s", "p50 ms", "p99 ms", "errors", "target"]
    out = ["| " + " | ".join(head) + " |", "|---|---:|---:|---:|---:|---:|---|"]
    out += ["| " + " | ".join(line.cells()) + " |" for line in lines]
    return "\n".join(out)


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every load 3 s (a smoke run)")
    parser.add_argument("--seconds", type=float, help="seconds per load (default 10; --quick 3)")
    parser.add_argument("--requests", type=int, default=50_000, help="requests per load at most (default 50,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario and concurrency (median shown)")
    parser.add_argument("--only", default="ceiling,a,b,c,switch", help="scenarios: ceiling,a,b,c,switch")
    parser.add_argument("--workers", type=int, default=1, help="mlnb serve --workers (default 1)")
    parser.add_argument("--mlflow-workers", type=int, default=1, help="mlflow models serve --workers (default 1)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save every raw result")
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    loads = Load(args.requests, args.seconds or (3.0 if args.quick else 10.0), args.repeat)

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    os.environ["MLNB_HOME"] = str(STORE)  # before mlnb is imported: this process's store is the benchmark's
    mlflow_python = ensure_mlflow_venv() if "c" in only else None
    progress("setup: registering the models")
    setup_store()
    results: dict[str, Any] = {"measured": [], "loads": loads.__dict__, "loadavg_start": os.getloadavg()}

    with contextlib.ExitStack() as running:
        servers: list[UnderTest] = []
        if "ceiling" in only:
            port = running.enter_context(server("trivial", [sys.executable, str(HERE / "_serve_trivial.py"),
                                                            "{port}"], dict(os.environ), "/"))
            servers.append(UnderTest("ceiling", port, "mlnb", "/predict"))
        for scenario, shadow in (("a", False), ("b", True)):
            if scenario in only:
                port = running.enter_context(server(f"mlnb-{scenario}", mlnb_serve(shadow, args), mlnb_env(), "/health"))
                servers.append(UnderTest(scenario, port, "mlnb", "/predict"))
        if "c" in only and mlflow_python is not None:
            model_dir = setup_mlflow_model(mlflow_python)
            command = [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager",
                       "local", "-h", "127.0.0.1", "-p", "{port}", "-w", str(args.mlflow_workers)]
            port = running.enter_context(server("mlflow", command, mlflow_env(), "/ping"))
            servers.append(UnderTest("c", port, "mlflow", "/invocations"))
        measured, ids_by = measure(servers, loads)  # the servers stop (drain, flush) when the block ends
    results["measured"] = measured
    ids = [f for files in ids_by.values() for f in files]
    answered = sum(r["ok"] + r["warmup_ok"] for m in measured if m.scenario in ("a", "b") for r in m.runs)
    if "switch" in only:
        with server("mlnb-switch", mlnb_serve(True, args), mlnb_env(), "/health") as port:
            switch = scenario_switch(port, loads)
        ids.append(Path(switch["ids_file"]))
        answered += switch["ok"] + switch["warmup_ok"]
        switch["recorded"] = switches_recorded()
        results["switch"] = switch
    if ids:
        results["archive"] = archive_check(ids, answered)
        progress(f"  archive: {results['archive']}")
    if ids_by:
        results["server_side"] = server_side(ids_by)

    results["loadavg_end"] = os.getloadavg()
    versions = {"mlnb": package_versions(Path(sys.executable), ("mlnb", "starlette", "uvicorn", "scikit-learn"))}
    if mlflow_python is not None:
        versions["mlflow"] = package_versions(mlflow_python, ("mlflow", "fastapi", "uvicorn", "scikit-learn"))
    info = machine()
    print(" | ".join(f"{side} {' '.join(f'{k} {v}' for k, v in vs.items())}" for side, vs in versions.items()))
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info.get('memory_gb', '?')} GB RAM, {info['os']}; "
          f"load average {results['loadavg_start'][0]:.1f} at start, {results['loadavg_end'][0]:.1f} at end")
    print(f"loads: {loads.seconds:g} s or {loads.requests:,} requests each, {loads.repeat} run(s) per row "
          f"(req/s: median (min-max)); mlnb workers {args.workers}, MLflow workers {args.mlflow_workers}\n")
    print(table(build_lines(results)))
    if args.json:
        results["measured"] = [m.__dict__ for m in results["measured"]]
        results.update(versions=versions, machine=info)
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
