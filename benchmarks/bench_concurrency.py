"""Load test: writer processes, polling readers and a Jupyter server on one store at once.

    python benchmarks/bench_concurrency.py             # 8 writers x 50 runs x 200 steps x 5 metrics (~30 s)
    python benchmarks/bench_concurrency.py --writers 2 --runs 2 --json   # small; also one JSON line

Writers are `tests/procs/writer.py` (runs with params and stepped metrics, each run ended by its
`with` block). Readers are `tests/procs/poller.py`: some query every 100 ms (alternating
`mlnb.runs()` and `mlnb.sql()`), one queries in a tight loop (the process that used to starve
everyone else). A `jupyter server` with the mlnb extension serves the same folder; a thread in
this process GETs `/mlnb/api/runs` and Jupyter's own `/api/kernelspecs` every 200 ms.

At the end every record is counted from the store: lost and duplicated metric points, runs not
`finished` (every writer exits cleanly, so any `crashed` run is a false verdict), and the wait
of every reader call (the longest, p99 and median), with the part spent waiting for a turn at
the index lock shown apart (the rest is the reader's own ingest of new events and its query).
Progress goes to stderr, the table to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCS = ROOT / "tests" / "procs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(PROCS / script), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class ServerPoller(threading.Thread):
    """GETs an mlnb endpoint and a Jupyter endpoint every `interval` s; records (seconds, status)."""

    def __init__(self, port: int, token: str, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.interval = f"http://127.0.0.1:{port}/", token, interval
        self.stop = threading.Event()
        self.samples: dict[str, list[tuple[float, int]]] = {"mlnb": [], "jupyter": []}
        self.error_bodies: list[str] = []

    def get(self, path: str) -> tuple[float, int]:
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"token {self.token}"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            self.error_bodies.append(f"{path}: {status} {exc.read()[:300]!r}")
        return time.perf_counter() - started, status

    def wait_ready(self) -> None:
        for _ in range(300):
            try:
                if self.get("api/kernelspecs")[1] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("jupyter server did not start")

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples["mlnb"].append(self.get("mlnb/api/runs?limit=20"))
            self.samples["jupyter"].append(self.get("api/kernelspecs"))
            self.stop.wait(self.interval)


def count_store(store: Path) -> dict[str, int]:
    code = (
        "import json, mlnb\n"
        f"mlnb.connect({str(store)!r})\n"
        "row = mlnb.sql('SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(DISTINCT run_id) FROM runs) AS ids, "
        "(SELECT count(*) FROM params) AS params, (SELECT count(*) FROM metrics) AS points, "
        "(SELECT count(*) FROM (SELECT DISTINCT run_id, key, step FROM metrics)) AS distinct_points, "
        "(SELECT count(*) FROM runs WHERE status = \\'finished\\') AS finished, "
        "(SELECT count(*) FROM runs WHERE status = \\'crashed\\') AS crashed').iloc[0]\n"
        "print(json.dumps({k: int(v) for k, v in row.items()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "MLNB_SQL_TIMEOUT": "600"}, cwd=store.parent)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_load(work: Path, writers: int, runs: int, steps: int, metrics: int, params: int, readers: int,
             server: bool = True) -> dict:
    """Run the load once on a fresh store under `work`; return every count and wait."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = work / ".mlnb"
    stop = work / "stop"
    env_keep = os.environ.pop("MLNB_HOME", None)
    jupyter, poller = None, None
    try:
        from mlnb.store.store import Store

        Store.open(store, create=True)
        if server:
            port, token = free_port(), secrets.token_hex(16)
            jupyter = subprocess.Popen(
                [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                 f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--ServerApp.allow_root=True"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)  # cwd: not this checkout's mlnb
            poller = ServerPoller(port, token)
            poller.wait_ready()
        procs = [spawn("poller.py", store, stop, 0.1, 3600, "both") for _ in range(readers)]
        procs.append(spawn("poller.py", store, stop, 0, 3600, "runs"))  # the tight loop
        for proc in procs:
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(proc.stderr.read())
        if poller:
            poller.start()
        print(f"{writers} writers x {runs} runs x {steps} steps x {metrics} metrics ...", file=sys.stderr)
        started = time.perf_counter()
        writer_procs = [spawn("writer.py", store, w, runs, params, metrics, steps) for w in range(writers)]
        outputs = [w.communicate(timeout=3600) for w in writer_procs]
        write_s = time.perf_counter() - started
        writes_done = time.time()
        time.sleep(3.0)  # more reads on the finished store (where a tight loop used to starve the rest)
        stop.touch()
        reads = [json.loads(proc.communicate(timeout=300)[0].strip().splitlines()[-1]) for proc in procs]
        if poller:
            poller.stop.set()
            poller.join(timeout=150)
    finally:
        if jupyter:
            jupyter.terminate()
            jupyter.wait(timeout=30)
        if env_keep is not None:
            os.environ["MLNB_HOME"] = env_keep
    (work / "reads.json").write_text(json.dumps({"writes_done": writes_done, "readers": reads}))  # raw, for a closer look
    failed = [err.strip().splitlines()[-1] for w, (out, err) in zip(writer_procs, outputs)
              if w.returncode or out.strip() != "done"]
    counts = count_store(store)
    expected_points = writers * runs * steps * metrics
    polled = [wait for r in reads[:-1] for wait in r["waits"]]
    tight = reads[-1]["waits"]
    result = {
        "writers": writers, "runs": writers * runs, "steps_per_writer": runs * steps,
        "expected_points": expected_points, "write_s": write_s, "writer_failures": failed,
        "lost_points": expected_points - counts["distinct_points"],
        "duplicated_points": counts["points"] - counts["distinct_points"],
        "lost_runs": writers * runs - counts["ids"], "duplicated_runs": counts["runs"] - counts["ids"],
        "lost_params": writers * runs * params - counts["params"],
        "false_crashed": counts["crashed"], "finished": counts["finished"],
        "reader_errors": [e for r in reads for e in r["errors"]],
        "readers": {"polling (every 100 ms)": polled, "tight loop": tight},
        # of which waiting for a turn at the index lock (the rest is the reader's own ingest and query)
        "lock_waits": {"polling (every 100 ms)": [w for r in reads[:-1] for w in r["lock_waits"]],
                       "tight loop": reads[-1]["lock_waits"]},
    }
    # the same waits, only of calls that began after the last writer exited (nothing left to write)
    result["after_writes"] = {"polling (every 100 ms)": [w for r in reads[:-1] for w, t in zip(r["waits"], r["starts"])
                                                         if t > writes_done],
                              "tight loop": [w for w, t in zip(reads[-1]["waits"], reads[-1]["starts"]) if t > writes_done]}
    if poller:
        for name, samples in poller.samples.items():
            result["readers"][f"server {'/mlnb/api/runs' if name == 'mlnb' else '/api/kernelspecs'}"] = \
                [s for s, _ in samples]
        result["server_503"] = sum(1 for _, status in poller.samples["mlnb"] if status == 503)
        result["server_error_bodies"] = poller.error_bodies[:5]
        result["server_errors"] = sum(1 for samples in poller.samples.values() for _, status in samples
                                      if status not in (200, 503))
    result["longest_wait_s"] = max(max(w) for w in result["readers"].values() if w)
    return result


def print_table(result: dict) -> None:
    print(f"\n{result['writers']} writer processes x {result['steps_per_writer']:,} metric steps each "
          f"({result['expected_points']:,} points, {result['runs']} runs with params), written in "
          f"{result['write_s']:.1f} s while readers and the server polled\n")
    print("| check | result |\n|---|---:|")
    for label, key in (("lost metric points", "lost_points"), ("duplicated metric points", "duplicated_points"),
                       ("lost runs", "lost_runs"), ("duplicated runs", "duplicated_runs"),
                       ("lost params", "lost_params"), ("false `crashed` runs", "false_crashed"),
                       ("runs `finished`", "finished")):
        print(f"| {label} | {result[key]:,} |")
    print(f"| writer failures | {len(result['writer_failures'])} |")
    print(f"| reader errors | {len(result['reader_errors'])} |")
    if "server_503" in result:
        print(f"| server 503 (index busy) / other errors | {result['server_503']} / {result['server_errors']} |")
    print("\n| reader | calls | median | p99 | longest |\n|---|---:|---:|---:|---:|")
    rows = [(name, waits) for name, waits in result["readers"].items()]
    rows += [(f"{name}: lock wait only", waits) for name, waits in result["lock_waits"].items()]
    rows += [(f"{name}: calls after the writers finished", waits) for name, waits in result["after_writes"].items()]
    for name, waits in rows:
        if waits:
            print(f"| {name} | {len(waits):,} | {statistics.median(waits) * 1000:.0f} ms | "
                  f"{percentile(waits, 0.99) * 1000:.0f} ms | {max(waits) * 1000:.0f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=50, help="runs per writer")
    parser.add_argument("--steps", type=int, default=200, help="steps per run (default: 10,000 per writer)")
    parser.add_argument("--metrics", type=int, default=5, help="metric keys logged at each step")
    parser.add_argument("--params", type=int, default=10, help="params per run")
    parser.add_argument("--readers", type=int, default=2, help="readers polling every 100 ms (plus one tight loop)")
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / ".work" / "concurrency")
    parser.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    result = run_load(args.dir, args.writers, args.runs, args.steps, args.metrics, args.params, args.readers,
                      server=not args.no_server)
    print_table(result)
    if args.json:
        summary = {k: v for k, v in result.items() if k not in ("readers", "lock_waits", "after_writes")}
        summary["waits"] = {name: {"calls": len(w), "max": max(w), "p99": percentile(w, 0.99)}
                            for name, w in result["readers"].items() if w}
        summary["lock_waits"] = {name: {"calls": len(w), "max": max(w), "p99": percentile(w, 0.99)}
                                 for name, w in result["lock_waits"].items() if w}
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
