"""Every event type mlnb writes: its name, fields and their types, and the format version.

This module is the contract of the event log. Writers build events only with `event(...)`,
ingest decodes them with the types declared here, and other tools (a remote store, a reader
in another language) can rely on it; `docs/EVENTS.md` describes the same format for people.

Compatibility rules (what FORMAT_VERSION promises):
- a new optional field or a new event type keeps the version: older readers ignore an unknown
  field and keep an unknown event type (counted, and read again after an upgrade);
- renaming or retyping a field, or changing what a value means, raises the version.
Field names are short on purpose (every metric point carries them); the stored names are part
of the contract even where the API says something else (a model version's `tags` are stored as
`labels`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = 1

# Field types. `json` is any JSON value (an object for details, profiles, signatures).
TEXT, NUMBER, INT, BOOL, JSON = "text", "number", "int", "bool", "json"
PARAMS = "params"    # [{"k": text, "v": text, "n": number|null}]
METRICS = "metrics"  # [{"k": text, "v": number|null, "s": int, "x": text|absent ("nan", "inf", "-inf")}]
TAGS = "tags"        # [{"k": text, "v": text}]
FIELD_TYPES = (TEXT, NUMBER, INT, BOOL, JSON, PARAMS, METRICS, TAGS)
NON_FINITE = ("nan", "inf", "-inf")  # a metric point's `x`: JSON has no literal for these


@dataclass(frozen=True)
class Field:
    """One field of an event: its stored name, type, whether every event has it, what it means."""

    name: str
    type: str
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class EventType:
    """A declared event type: `e` is its name; `owner` is the feature that ingests it."""

    name: str
    owner: str
    doc: str
    fields: tuple[Field, ...]

    @property
    def field_names(self) -> frozenset[str]:
        return _FIELD_NAMES[self.name]


def _f(name: str, type: str, required: bool = False, doc: str = "") -> Field:
    return Field(name, type, required, doc)


# The items of the list-valued types (each item a JSON object with these keys).
ITEM_FIELDS: dict[str, tuple[Field, ...]] = {
    PARAMS: (_f("k", TEXT, True, "key"), _f("v", TEXT, True, "value as text (redacted)"),
             _f("n", NUMBER, doc="the value as a number, if it is one (null otherwise)")),
    METRICS: (_f("k", TEXT, True, "key"), _f("v", NUMBER, doc="value; null when it is not finite (see `x`)"),
              _f("s", INT, True, "step"), _f("x", TEXT, doc="'nan', 'inf' or '-inf' when `v` is null")),
    TAGS: (_f("k", TEXT, True, "key"), _f("v", TEXT, True, "value as text (redacted)")),
}

_RUN = _f("run", TEXT, True, "run id: 32 lowercase hex characters")
_T = _f("t", NUMBER, True, "when, in seconds since the epoch (UTC)")

_DECLARED = (
    EventType("run_start", "core", "a run began", (
        _RUN, _T, _f("exp", TEXT, doc="experiment name (null: `Default`)"), _f("name", TEXT, doc="run name"),
        _f("parent", TEXT, doc="parent run id"), _f("user", TEXT, doc="user name of the writing process"),
        _f("host", TEXT, doc="host name of the writing process"),
        _f("pid", INT, doc="the writing process"), _f("pid_start", NUMBER, doc="that process's start time"),
        _f("nb", TEXT, doc="notebook path"), _f("git", TEXT, doc="git commit"),
    )),
    EventType("run_end", "core", "a run ended (its own end outranks an inferred one)", (
        _RUN, _T, _f("status", TEXT, True, "finished, failed, killed or crashed"),
        _f("inferred", BOOL, doc="true when another process inferred `crashed` from a dead pid"),
    )),
    EventType("params", "core", "params of a run (the last value of a key wins)", (
        _RUN, _f("p", PARAMS, True, "k: key, v: value as text (redacted), n: the number, if it is one"),
    )),
    EventType("metrics", "core", "metric points of a run", (
        _RUN, _f("m", METRICS, True, "k: key, v: value, s: step, x: 'nan'/'inf'/'-inf' when v is null"), _T,
    )),
    EventType("tags", "core", "tags of a run (the last value of a key wins)", (
        _RUN, _f("tags", TAGS, True, "k: key, v: value as text (redacted)"),
    )),
    EventType("artifact", "core", "a file stored for a run (content in the blob store by hash)", (
        _RUN, _f("path", TEXT, True, "name within the run (the last event for a path wins)"),
        _f("hash", TEXT, True, "sha256 of the content (hex)"),
        _f("size", INT, doc="bytes"), _f("media", TEXT, doc="media type"), _T,
    )),
    EventType("cell", "capture", "one executed notebook cell", (
        _RUN, _f("seq", INT, True, "order within the run (0-based, the last event for a seq wins)"),
        _f("ec", INT, doc="execution count"), _f("cell_id", TEXT, doc="the notebook's cell id"),
        _f("code", TEXT, doc="source (redacted, capped)"), _f("code_hash", TEXT, doc="hash of the source"), _T,
        _f("dur", NUMBER, doc="seconds"), _f("status", TEXT, doc="ok or error"),
        _f("details", JSON, doc="object: stdout, stderr, error, outputs, variables, reads, metrics, step, "
                                "inputs, writes"),
    )),
    EventType("dataset", "capture", "a data fingerprint (one row per distinct content)", (
        _f("fp", TEXT, True, "content fingerprint"), _f("schema", TEXT, doc="schema fingerprint"),
        _f("kind", TEXT, doc="what kind of object (a type name)"), _f("rows", INT, doc="number of rows"),
        _f("cols", INT, doc="number of columns"), _f("profile", JSON, doc="object: per-column summary"),
        _f("scheme", INT, doc="fingerprint scheme version"), _T,
    )),
    EventType("lineage", "capture", "an edge of the lineage graph", (
        _RUN, _f("src_kind", TEXT, True, "dataset, cell, model or run"), _f("src_id", TEXT, True, "its id"),
        _f("dst_kind", TEXT, True, "dataset, cell, metric, run or check (a monitoring check)"), _f("dst_id", TEXT, True, "its id"),
        _f("rel", TEXT, True, "read:<var>, wrote:<var>, var:<name>, logged, evaluated, reproduces, monitored, ..."), _T,
    )),
    EventType("model_version", "registry", "a registered model version", (
        _f("name", TEXT, True, "model name"), _f("version", INT, True,
                                                    "version number (1, 2, ...), claimed at claims/models/<name>/versions/<version> first"),
        _f("run", TEXT, doc="producing run"),
        _f("hash", TEXT, True, "sha256 of the model file"), _f("path", TEXT, doc="the model file's name"),
        _f("flavor", TEXT, doc="how it is saved and loaded"), _f("size", INT, doc="bytes"),
        _f("signature", JSON, doc="object: input and output schema"), _f("description", TEXT),
        _f("labels", JSON, doc="the version's tags (text to text)"), _f("data", JSON, doc="upstream fingerprints"),
        _f("nb", TEXT, doc="hash of the run's notebook snapshot"),
        _f("hidden", TEXT, doc="notebook hidden-state verdict"), _T,
        _f("user", TEXT, doc="who registered it"), _f("host", TEXT, doc="where"),
        _f("mlnb", TEXT, doc="mlnb version that registered it"),
    )),
    EventType("model_version_update", "registry", "a version's status, description or tags changed", (
        _f("name", TEXT, True, "model name"), _f("version", INT, True, "version number"),
        _f("status", TEXT, doc="archived"), _f("description", TEXT, doc="new description"),
        _f("labels", JSON, doc="new tags (text to text)"),
    )),
    EventType("alias", "registry", "an alias moved (version) or was deleted (version null)", (
        _f("name", TEXT, True, "model name"), _f("alias", TEXT, True, "alias name"),
        _f("version", INT, doc="the version it points to now (null: deleted)"),
        _f("from", INT, doc="the version it pointed to before"),
        _f("user", TEXT, doc="who moved it"), _T, _f("reason", TEXT, doc="why (free text)"),
        _f("seq", INT, doc="step of this alias's history, claimed at claims/models/<name>/aliases/<alias>/<seq>; "
                          "the highest wins (moves without one, from older writers, come first in time order)"),
    )),
    EventType("profile", "monitoring", "a stored data profile (the JSON in the blob store), linked to its data "
              "fingerprint and, for a model version's reference profile, to the version", (
        _f("id", TEXT, True, "sha256 of the profile's JSON in the blob store (hex)"),
        _f("fp", TEXT, doc="fingerprint of the profiled data (null: data mlnb cannot fingerprint)"),
        _f("rows", INT, doc="number of rows"), _f("cols", INT, doc="number of columns"),
        _f("model", TEXT, doc="model name, when this is a version's reference profile"),
        _f("version", INT, doc="that version's number"), _T,
    )),
    EventType("monitor", "monitoring", "a monitoring check of a batch of data against a model version's "
              "reference profile (drift and validation; the full report in the blob store)", (
        _f("id", TEXT, True, "check id: 32 lowercase hex characters"),
        _f("model", TEXT, True, "model name"), _f("version", INT, True, "version number"), _T,
        _f("rows", INT, doc="rows in the checked batch"),
        _f("status", TEXT, True, "drift status: ok, warn or drift"),
        _f("validation", TEXT, doc="pass or fail"), _f("drifted", INT, doc="number of columns with status drift"),
        _f("fp", TEXT, doc="fingerprint of the checked data"),
        _f("report", TEXT, doc="sha256 of the full report's JSON in the blob store (hex)"),
        _f("summary", JSON, doc="object: column -> {status, score}"),
        _f("reference", TEXT, doc="id of the reference profile checked against"),
        _f("run", TEXT, doc="the active run when the check was made"), _f("name", TEXT, doc="a name for the check"),
    )),
    EventType("serve_answer", "serving", "one request answered (or refused) by `mlnb serve`: every version's "
              "output and latency, and which one was returned (the rendezvous archive)", (
        _f("id", TEXT, True, "request id: 32 lowercase hex characters"), _T,
        _f("model", TEXT, True, "model name"), _f("server", TEXT, doc="id of the serving process"),
        _f("status", TEXT, True, "ok (the first preference answered), fallback (a later one did), invalid (refused "
                                 "with a 4xx, nothing scored) or failed (no version answered)"),
        _f("returned", INT, doc="version whose answer was returned (null: none)"),
        _f("alias", TEXT, doc="alias of the returned version (champion, ...)"),
        _f("rows", INT, doc="rows in the request"),
        _f("input", JSON, doc="the request's rows as columns (object: column -> list), secret-looking text masked; "
                             "null when not kept (sampled out, or over the size cap)"),
        _f("answers", JSON, doc="list, one item per version asked: v (version), alias, status (ok, error, timeout), "
                               "ms (latency), out (list of outputs, one per row, or null), err (first line of an error)"),
        _f("ms", NUMBER, doc="milliseconds from receiving the request to answering it"),
        _f("err", TEXT, doc="why the request was refused or failed (one line per problem)"),
    )),
    EventType("serve_feedback", "serving", "ground truth for an answered request (the last label for an id wins)", (
        _f("id", TEXT, True, "request id"), _f("label", JSON, True, "the true label: one value, or a list (one per row)"),
        _T, _f("user", TEXT, doc="who logged it"),
    )),
    EventType("serve_switch", "serving", "a serving process moved an alias to another version (or failed to)", (
        _f("server", TEXT, True, "id of the serving process"), _f("model", TEXT, True, "model name"),
        _f("alias", TEXT, True, "the alias that moved"), _f("from", INT, doc="version served before"),
        _f("version", INT, doc="version served now (null: the alias was deleted)"), _T,
        _f("ms", NUMBER, doc="milliseconds spent loading and warming the new version"),
        _f("status", TEXT, True, "switched, or failed (the old version keeps answering)"),
        _f("err", TEXT, doc="why it failed"),
    )),
    EventType("serve_status", "serving", "a serving process's heartbeat: what it serves, where, how much", (
        _f("server", TEXT, True, "id of the serving process"), _T, _f("model", TEXT, True, "model name"),
        _f("url", TEXT, doc="where it listens (http://host:port)"), _f("host", TEXT, doc="host name"),
        _f("pid", INT, doc="process id"), _f("state", TEXT, True, "running or stopped"),
        _f("aliases", JSON, doc="object: alias or URI served -> version, in preference order (the first answers)"),
        _f("shadows", JSON, doc="list of the shadow aliases or URIs"),
        _f("requests", INT, doc="requests answered since the process started"),
        _f("deadline", NUMBER, doc="the deadline in milliseconds"), _f("started", NUMBER, doc="when it started"),
    )),
)

EVENT_TYPES: dict[str, EventType] = {t.name: t for t in _DECLARED}
_FIELD_NAMES: dict[str, frozenset[str]] = {t.name: frozenset(f.name for f in t.fields) for t in _DECLARED}


def declared(name: str) -> EventType:
    """The declaration of event type `name` (KeyError if mlnb does not know it)."""
    return EVENT_TYPES[name]


def event(event_type: str, /, **fields: Any) -> dict[str, Any]:
    """Build one event of a declared type. An undeclared type or field is a programming error
    (TypeError): the log must only ever hold what this module documents.

    Keys are stored in the order given (`e` first), so callers keep the stored bytes stable.
    Values are not checked here (this is on the `log_metric` path); `validate` checks them.
    """
    allowed = _FIELD_NAMES.get(event_type)
    if allowed is None:
        raise TypeError(f"undeclared event type {event_type!r}; declare it in mlnb/events.py")
    if not fields.keys() <= allowed:
        extra = sorted(set(fields) - allowed)
        raise TypeError(f"event {event_type!r} has no field(s) {extra}; declare them in mlnb/events.py")
    return {"e": event_type, **fields}


def metrics_event(run: str, points: list[dict[str, Any]], t: float) -> dict[str, Any]:
    """`event("metrics", run=run, m=points, t=t)` without the per-call field check, for the hot
    path of `log_metric` (about 300 ns less per call). tests/test_events.py holds it to the
    declaration: it must build exactly what `event()` builds."""
    return {"e": "metrics", "run": run, "m": points, "t": t}


def validate(ev: Any) -> list[str]:
    """What is wrong with one decoded event against its declaration (empty list: nothing).

    An undeclared type or field is a problem here, though ingest keeps such events (a newer
    mlnb may have written them): this checks what this version writes.
    """
    if not isinstance(ev, dict):
        return ["not a JSON object"]
    kind = ev.get("e")
    if not isinstance(kind, str):
        return ['no "e" (event type)']
    spec = EVENT_TYPES.get(kind)
    if spec is None:
        return [f"undeclared event type {kind!r}"]
    problems = [f"undeclared field {name!r}" for name in ev if name != "e" and name not in spec.field_names]
    problems += _check_fields(spec.fields, ev, kind)
    return problems


def _check_fields(fields: tuple[Field, ...], obj: dict[str, Any], where: str) -> list[str]:
    problems = []
    for field in fields:
        value = obj.get(field.name)
        if value is None:
            if field.required:
                problems.append(f'{where}: no "{field.name}"')
            continue
        if field.type in ITEM_FIELDS:
            problems += _check_items(field, value, where)
        elif not _is(value, field.type):
            problems.append(f'{where}: "{field.name}" is not {field.type}: {str(value)[:40]!r}')
    return problems


def _check_items(field: Field, value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        return [f'{where}: "{field.name}" is not a list']
    problems = []
    item_fields = ITEM_FIELDS[field.type]
    names = {f.name for f in item_fields}
    for n, item in enumerate(value):
        at = f"{where}.{field.name}[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: not a JSON object")
            continue
        problems += [f"{at}: undeclared key {key!r}" for key in item if key not in names]
        problems += _check_fields(item_fields, item, at)
        if field.type == METRICS and item.get("v") is None and item.get("x") not in NON_FINITE:
            problems.append(f'{at}: "v" is null and "x" is not one of {", ".join(NON_FINITE)}')
    return problems


def _is(value: Any, kind: str) -> bool:
    if kind == TEXT:
        return isinstance(value, str)
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == BOOL:
        return isinstance(value, bool)
    return kind == JSON  # any JSON value


def markdown() -> str:
    """The declarations as markdown tables (the generated part of docs/EVENTS.md)."""
    out = [f"Format version: **{FORMAT_VERSION}**", ""]
    for spec in _DECLARED:
        out += [f"### `{spec.name}`", "", f"{spec.doc[0].upper()}{spec.doc[1:]}. Owner: {spec.owner}.", ""]
        out += _table(spec.fields)
    out += ["### Items of list-valued fields", ""]
    for kind, fields in ITEM_FIELDS.items():
        out += [f"`{kind}`: a list of JSON objects with these keys:", ""] + _table(fields)
    return "\n".join(out)


def _table(fields: tuple[Field, ...]) -> list[str]:
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    rows += [f"| `{f.name}` | {f.type} | {'yes' if f.required else 'no'} | {f.doc.replace('|', '/')} |"
             for f in fields]
    return rows + [""]
