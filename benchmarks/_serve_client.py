"""bench_serve's load client: C keep-alive HTTP/1.1 connections, one thread each, in its own process.

    python _serve_client.py '{"port": 8080, "path": "/predict", "style": "mlnb", "concurrency": 8,
                              "requests": 20000, "seconds": 10, "warmup": 20, "ids_file": "..."}'

Each connection is a raw socket that sends prebuilt single-row POSTs (rotating over the wine rows)
and reads each response by its Content-Length, so the client does no JSON work per request and
stays far below the servers' cost (its own ceiling is measured against `_serve_trivial.py`).
The run stops after `requests` requests or `seconds` seconds, whichever comes first (or once
`stop_file` exists, if given); every
connection first sends `warmup` requests that are not timed (but are answered, hence archived).

Prints one JSON line: counts, errors by kind, elapsed seconds, requests/s, latency percentiles,
the answering versions (header x-mlnb-version) and, with `ids_file`, writes the request id
(header x-request-id) of every 200 response there, one per line.
"""
from __future__ import annotations

import itertools
import json
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wine import bodies  # noqa: E402

HOST = "127.0.0.1"  # loopback only


def request_bytes(path: str, body: bytes, port: int) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Connection:
    """One keep-alive connection: `call(request) -> (status, headers block)`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def open(self) -> socket.socket:
        sock = socket.create_connection((HOST, self.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer = sock, b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    def call(self, request: bytes) -> tuple[int, bytes]:
        sock = self.sock or self.open()
        sock.sendall(request)
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            buffer += self._recv(sock)
        head, rest = buffer[:end], buffer[end + 4:]
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at < 0:
            raise ConnectionError("response without Content-Length")
        eol = lower.find(b"\r\n", at + 2)
        length = int(lower[at + 17:eol if eol > 0 else len(lower)])
        while len(rest) < length:
            rest += self._recv(sock)
        self.buffer = rest[length:]
        if b"\r\nconnection: close" in lower:
            self.close()
        return status, head

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk


def header(head: bytes, name: bytes) -> str | None:
    """The value of header `name` (lower case) in a response head, or None."""
    lower = head.lower()
    at = lower.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + 3 + len(name)
    end = head.find(b"\r\n", start)
    return head[start:end if end > 0 else None].strip().decode()


def run(args: dict[str, Any]) -> dict[str, Any]:
    port, concurrency = int(args["port"]), int(args["concurrency"])
    requests = [request_bytes(args.get("path", "/predict"), body, port) for body in bodies(args["style"])]
    limit, seconds, warmup = int(args["requests"]), float(args["seconds"]), int(args.get("warmup", 20))
    want_ids = bool(args.get("ids_file"))
    stop_file = Path(args["stop_file"]) if args.get("stop_file") else None  # the load ends when it appears
    counter = itertools.count()  # next() on it is atomic under the GIL: one sequence for all threads
    ready = threading.Barrier(concurrency + 1)
    start_at: list[float] = []
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        conn = Connection(port)
        latencies: list[int] = []
        statuses: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        versions: Counter[str] = Counter()
        ids: list[str] = []
        warm_ids: list[str] = []
        try:
            for i in range(warmup):  # not timed; their ids still count for the archive check
                status, head = conn.call(requests[(index * 7919 + i) % len(requests)])
                if status == 200:
                    warm_ids.append(header(head, b"x-request-id") or "")
        except (OSError, ValueError) as exc:
            errors[f"warmup: {type(exc).__name__}: {exc}"] += 1
            conn.close()
        ready.wait()
        deadline = start_at[0] + seconds
        perf = time.perf_counter
        while True:
            i = next(counter)
            if i >= limit:
                break
            t0 = perf()
            if t0 >= deadline or (stop_file is not None and not i % 64 and stop_file.exists()):
                break
            try:
                status, head = conn.call(requests[i % len(requests)])
            except (OSError, ValueError) as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                conn.close()
                continue
            latencies.append(int((perf() - t0) * 1e9))
            statuses[status] += 1
            if status == 200:
                version = header(head, b"x-mlnb-version")
                if version is not None:
                    versions[version] += 1
                if want_ids:
                    ids.append(header(head, b"x-request-id") or "")
            else:
                errors[f"HTTP {status}"] += 1
        ended = perf()
        conn.close()
        with lock:
            results.append({"latencies": latencies, "statuses": statuses, "errors": errors,
                            "versions": versions, "ids": ids, "warm_ids": warm_ids, "ended": ended})

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start_at.append(time.perf_counter())  # set before the barrier opens: every worker reads it after
    ready.wait()
    start_at[0] = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = max(r["ended"] for r in results) - start_at[0]
    latencies = sorted(itertools.chain.from_iterable(r["latencies"] for r in results))
    statuses: Counter[int] = sum((r["statuses"] for r in results), Counter())
    errors: Counter[str] = sum((r["errors"] for r in results), Counter())
    versions: Counter[str] = sum((r["versions"] for r in results), Counter())
    ids = [i for r in results for i in (*r["warm_ids"], *r["ids"])]
    if want_ids:
        Path(args["ids_file"]).write_text("\n".join(ids) + "\n")
    done = len(latencies)
    return {
        "concurrency": concurrency, "requests": done, "ok": statuses.get(200, 0),
        "errors": sum(errors.values()), "error_kinds": dict(errors.most_common(5)),
        "statuses": {str(k): v for k, v in statuses.items()}, "seconds": elapsed,
        "rps": statuses.get(200, 0) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99), "max_ms": latencies[-1] / 1e6 if latencies else None,
        "versions": dict(versions), "answered_ids": len(ids), "warmup_ok": sum(len(r["warm_ids"]) for r in results),
    }


def percentile(sorted_ns: list[int], q: float) -> float | None:
    """The q-th percentile (nearest rank) of sorted nanoseconds, in ms."""
    if not sorted_ns:
        return None
    rank = max(0, min(len(sorted_ns) - 1, int(round(q / 100 * len(sorted_ns) + 0.5)) - 1))
    return sorted_ns[rank] / 1e6


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)
