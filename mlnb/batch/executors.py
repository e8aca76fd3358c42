"""Where batch executions run: local worker processes (default) or a Dask distributed cluster.

Both take picklable task specs and yield `(spec, result)` pairs as executions finish. A task
spec is a plain dict (see `tasks.execute`), so the same spec runs on any worker that can see the
store's folder.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from mlnb.errors import MissingDependencyError, MlnbError


class Executor(Protocol):
    """Runs `fn(spec)` for each spec, yielding (spec, result) in completion order."""

    def run_all(self, fn: Callable[[dict[str, Any]], Any], specs: Iterable[dict[str, Any]]) -> Iterator[tuple[dict, Any]]: ...
    def close(self) -> None: ...


class LocalExecutor:
    """Each execution in a fresh `python -m mlnb.batch.worker` process, `workers` at a time.

    A subprocess per task (rather than a multiprocessing pool) works from any caller, a notebook
    or `python -c` included, and shares no kernel or DuckDB state with it.
    """

    def __init__(self, workers: int = 1) -> None:
        import concurrent.futures

        self.workers = max(1, int(workers))
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers)

    def run_all(self, fn: Callable[[dict[str, Any]], Any], specs: Iterable[dict[str, Any]]) -> Iterator[tuple[dict, Any]]:
        import concurrent.futures

        futures = {self._pool.submit(_in_subprocess, fn, spec): spec for spec in specs}
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _in_subprocess(fn: Callable[[dict[str, Any]], Any], spec: dict[str, Any]) -> Any:
    import json
    import subprocess
    import sys

    target = f"{fn.__module__}:{fn.__qualname__}"
    done = subprocess.run([sys.executable, "-m", "mlnb.batch.worker", target], input=json.dumps(spec),
                          capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MlnbError(f"batch worker failed: {reason}")
    return json.loads(lines[-1])


class DaskExecutor:
    """Submits executions to an existing Dask distributed scheduler (`tcp://host:port`)."""

    def __init__(self, address: str, timeout: float = 20) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise MissingDependencyError("dask.distributed", "dask", needed_for="the Dask executor") from None
        try:
            self._client = Client(address, timeout=f"{timeout}s", set_as_default=False)
        except OSError as exc:
            raise MlnbError(f"cannot reach the Dask scheduler at {address}: {exc}") from None

    def run_all(self, fn: Callable[[dict[str, Any]], Any], specs: Iterable[dict[str, Any]]) -> Iterator[tuple[dict, Any]]:
        from distributed import as_completed

        specs = list(specs)
        # pure=False: two identical specs are two executions; retries cover a lost worker
        futures = {self._client.submit(fn, spec, pure=False, retries=1): i for i, spec in enumerate(specs)}
        for future in as_completed(list(futures), loop=self._client.loop):
            yield specs[futures[future]], future.result()

    def close(self) -> None:
        self._client.close()


def get_executor(kind: str = "local", workers: int = 1, address: str | None = None, timeout: float = 20) -> Executor:
    """`local` (processes on this machine) or `dask` (needs `address`)."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        if not address:
            raise MlnbError("--executor dask needs --address tcp://HOST:PORT of a running dask scheduler")
        return DaskExecutor(address, timeout)
    raise MlnbError(f"unknown executor {kind!r}; use local or dask")
