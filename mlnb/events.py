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
        return frozenset(f.name for f in self.fields)


def _f(name: str, type: str, required: bool = False, doc: str = "") -> Field:
    return Field(name, type, required, doc)


_RUN = _f("run", TEXT, True, "run id: 32 lowercase hex characters")
_T = _f("t", NUMBER, True, "when, in seconds since the epoch (UTC)")

_DECLARED = (
    EventType("run_start", "core", "a run began", (
        _RUN, _T, _f("exp", TEXT, doc="experiment"), _f("name", TEXT, doc="run name"),
        _f("parent", TEXT, doc="parent run id"), _f("user", TEXT), _f("host", TEXT),
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
        _RUN, _f("path", TEXT, True, "name within the run"), _f("hash", TEXT, True, "sha256 of the content"),
        _f("size", INT, doc="bytes"), _f("media", TEXT, doc="media type"), _T,
    )),
    EventType("cell", "capture", "one executed notebook cell", (
        _RUN, _f("seq", INT, True, "order within the run"), _f("ec", INT, doc="execution count"),
        _f("cell_id", TEXT), _f("code", TEXT, doc="source (redacted, capped)"), _f("code_hash", TEXT), _T,
        _f("dur", NUMBER, doc="seconds"), _f("status", TEXT, doc="ok or error"),
        _f("details", JSON, doc="stdout, stderr, error, outputs, variables, reads, metrics, inputs, writes"),
    )),
    EventType("dataset", "capture", "a data fingerprint (one row per distinct content)", (
        _f("fp", TEXT, True, "content fingerprint"), _f("schema", TEXT, doc="schema fingerprint"),
        _f("kind", TEXT), _f("rows", INT), _f("cols", INT), _f("profile", JSON, doc="per-column summary"),
        _f("scheme", INT, doc="fingerprint scheme version"), _T,
    )),
    EventType("lineage", "capture", "an edge of the lineage graph", (
        _RUN, _f("src_kind", TEXT, True), _f("src_id", TEXT, True), _f("dst_kind", TEXT, True),
        _f("dst_id", TEXT, True), _f("rel", TEXT, True, "read:<var>, wrote:<var>, var:<name>, logged, ..."), _T,
    )),
    EventType("model_version", "registry", "a registered model version", (
        _f("name", TEXT, True), _f("version", INT, True,
                                   "claimed at claims/models/<name>/versions/<version> before the event is written"),
        _f("run", TEXT, doc="producing run"),
        _f("hash", TEXT, True, "sha256 of the model file"), _f("path", TEXT), _f("flavor", TEXT),
        _f("size", INT), _f("signature", JSON), _f("description", TEXT),
        _f("labels", JSON, doc="the version's tags (text to text)"), _f("data", JSON, doc="upstream fingerprints"),
        _f("nb", TEXT), _f("hidden", TEXT, doc="notebook hidden-state verdict"), _T, _f("user", TEXT),
        _f("host", TEXT), _f("mlnb", TEXT, doc="mlnb version that registered it"),
    )),
    EventType("model_version_update", "registry", "a version's status, description or tags changed", (
        _f("name", TEXT, True), _f("version", INT, True), _f("status", TEXT, doc="archived"),
        _f("description", TEXT), _f("labels", JSON),
    )),
    EventType("alias", "registry", "an alias moved (version) or was deleted (version null)", (
        _f("name", TEXT, True), _f("alias", TEXT, True), _f("version", INT), _f("from", INT),
        _f("user", TEXT), _T, _f("reason", TEXT),
        _f("seq", INT, doc="step of this alias's history, claimed at claims/models/<name>/aliases/<alias>/<seq>; "
                          "the highest wins (moves without one, from older writers, come first in time order)"),
    )),
)

EVENT_TYPES: dict[str, EventType] = {t.name: t for t in _DECLARED}


def declared(name: str) -> EventType:
    """The declaration of event type `name` (KeyError if mlnb does not know it)."""
    return EVENT_TYPES[name]


def event(event_type: str, /, **fields: Any) -> dict[str, Any]:
    """Build one event of a declared type. An undeclared type or field is a programming error
    (TypeError): the log must only ever hold what this module documents."""
    spec = EVENT_TYPES.get(event_type)
    if spec is None:
        raise TypeError(f"undeclared event type {event_type!r}; declare it in mlnb/events.py")
    if not spec.field_names.issuperset(fields):
        extra = sorted(set(fields) - spec.field_names)
        raise TypeError(f"event {event_type!r} has no field(s) {extra}; declare them in mlnb/events.py")
    return {"e": event_type, **fields}
