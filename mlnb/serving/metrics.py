"""Prometheus metrics of one serving process (GET /metrics): requests by outcome, latency, and per
version answers, latency and agreement with the returned answer (fed by `engine.on_complete`).

With `--workers K` every worker writes its numbers to files in PROMETHEUS_MULTIPROC_DIR (set by
the runner before the workers start) and /metrics, answered by any worker, adds them all up.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlnb.serving.archive import Answer

# seconds; finer than prometheus_client's defaults at the low end, where a single-row answer lives
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ServeMetrics:
    """The metrics of one app (its own registry, so two servers in one process never mix)."""

    def __init__(self, multiprocess: bool | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV)) if multiprocess is None else multiprocess
        # in multiprocess mode the values live in files; the registry that reads them is built per scrape
        self.registry = CollectorRegistry(auto_describe=True)
        own = None if self.multiprocess else self.registry
        self.requests = Counter("mlnb_serve_requests", "POST /predict requests by outcome: ok, fallback, "
                                "invalid (4xx), failed (no version answered)", ["status"], registry=own)
        self.request_seconds = Histogram("mlnb_serve_request_seconds", "time from receiving a request to "
                                         "answering it", registry=own, buckets=BUCKETS)
        self.version_answers = Counter("mlnb_serve_version_answers", "answers of each version by status: ok, "
                                       "error, timeout", ["version", "alias", "status"], registry=own)
        self.version_seconds = Histogram("mlnb_serve_version_seconds", "time each version took to answer",
                                         ["version", "alias"], registry=own, buckets=BUCKETS)
        self.agreement = Counter("mlnb_serve_shadow_agreement", "requests where a version's output equals "
                                 "(agree=true) or differs from (false) the returned one", ["version", "alias", "agree"],
                                 registry=own)
        self.switches = Counter("mlnb_serve_switches", "alias moves picked up live, by status (switched, failed)",
                                ["alias", "status"], registry=own)
        # label children cached: .labels() hashes and locks on every call
        self._by_status: dict[str, Any] = {}
        self._children: dict[tuple[str, str, str, str], Any] = {}

    def request(self, status: str, seconds: float) -> None:
        """One /predict request answered (any outcome)."""
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(status=status)
        child.inc()
        self.request_seconds.observe(seconds)

    def completed(self, answer: Answer) -> None:
        """`engine.on_complete` callback: every version's result for one request."""
        returned = answer.returned
        for va in answer.answers:
            version, alias = str(va.version), str(va.alias or va.version)
            self._child("answers", version, alias, va.status).inc()
            self._child("seconds", version, alias, "").observe(va.ms / 1e3)
            if (returned is not None and (va.version, va.alias) != (returned.version, returned.alias)
                    and va.status == "ok" and returned.outputs is not None):
                agree = "true" if va.outputs == returned.outputs else "false"
                self._child("agreement", version, alias, agree).inc()

    def _child(self, metric: str, version: str, alias: str, extra: str) -> Any:
        key = (metric, version, alias, extra)
        child = self._children.get(key)
        if child is None:
            if metric == "answers":
                child = self.version_answers.labels(version, alias, extra)
            elif metric == "seconds":
                child = self.version_seconds.labels(version, alias)
            else:
                child = self.agreement.labels(version, alias, extra)
            self._children[key] = child
        return child

    def switched(self, alias: str, status: str) -> None:
        """An alias move picked up (switched) or not (failed)."""
        self.switches.labels(alias, status).inc()

    def render(self) -> tuple[bytes, str]:
        """(the Prometheus text of every worker's numbers, its content type)."""
        from prometheus_client import CollectorRegistry, generate_latest

        if not self.multiprocess:
            return generate_latest(self.registry), TEXT_FORMAT
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), TEXT_FORMAT


# The content type of what `generate_latest` writes: the classic text format 0.0.4 (prometheus_client
# 0.20 calls it CONTENT_TYPE_LATEST; newer releases name it CONTENT_TYPE_PLAIN_0_0_4).
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
