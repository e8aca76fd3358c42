"""One live version: a registry version loaded, given its input schema and warmed, ready to predict.

Loading runs in a worker thread (never on the event loop): `load_version` resolves the URI,
loads the artifact (hash-checked by the registry), builds the input schema and runs one tiny
predict so the first request does not pay for lazy imports and caches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlnb.model_monitoring.input_schema import InputSchema
    from mlnb.serving.batching import Batcher
    from mlnb.store.store import Store


@dataclass(eq=False)
class LiveVersion:
    """One loaded, warmed version serving under `uri` (an alias URI or name/N)."""

    uri: str
    name: str
    version: int
    model: Any
    record: dict[str, Any]  # the registry record (signature, flavor, ...)
    schema: InputSchema | None = None
    warm_error: str | None = None  # why warming failed (the version still serves)
    plain_input: bool = False  # predict on the frame's numpy array (see `takes_plain_array`)
    batcher: Batcher | None = field(default=None, repr=False)  # set by the engine when it goes live

    @property
    def alias(self) -> str:
        return self.uri.split("@", 1)[1] if "@" in self.uri else str(self.version)

    def schema_columns(self) -> list[tuple[str, str, str]]:
        return list(self.schema.columns) if self.schema is not None else []


def load_version(store: Store, uri: str, allow_pickle: bool, version: int | None = None,
                 reuse: LiveVersion | None = None) -> LiveVersion:
    """Load and warm `uri` (at `version` when given: what the watcher saw the alias move to).

    `reuse`: an already loaded LiveVersion of the same version (e.g. the challenger being
    promoted): its model object is shared instead of loading the artifact again.
    """
    from mlnb.model_registry import load_model, model_version

    target = f"{uri.split('@', 1)[0]}/{version}" if version is not None else uri
    record = model_version(target, project=store)
    number = int(record["version"])
    if reuse is not None and reuse.version == number and reuse.name == record["name"]:
        model, schema = reuse.model, reuse.schema
    else:
        model = load_model(record["uri"], allow_pickle=allow_pickle, project=store)
        schema = input_schema(store, record)
    live = LiveVersion(uri, record["name"], number, model, record, schema)
    live.warm_error = warm(live)
    live.plain_input = live.warm_error is None and takes_plain_array(model, schema)
    return live


def input_schema(store: Store, record: dict[str, Any]) -> InputSchema | None:
    from mlnb.model_monitoring.input_schema import InputSchema

    return InputSchema.for_version(store, record["name"], int(record["version"]), record)


def warm(live: LiveVersion) -> str | None:
    """One predict on a one-row frame built from the schema (None: it worked, or no schema to
    build a frame from). A model that refuses zeros still serves; the reason is kept."""
    frame = warm_frame(live.schema)
    if frame is None:
        return None
    try:
        predict_rows(live.model, frame, 1)
    except Exception as exc:  # warming is best effort: real requests report their own errors
        return first_line(exc)
    return None


_WARM_VALUES = {"b": False, "i": 0, "u": 0, "f": 0.0, "M": "2000-01-01T00:00:00"}


def warm_frame(schema: InputSchema | None) -> Any:
    """A one-row DataFrame in the schema's columns and dtypes, or None."""
    if schema is None or not schema.columns:
        return None
    import numpy as np

    columns: dict[str, list[Any]] = {}
    for name, _kind, dtype in schema.columns:
        try:
            code = np.dtype(dtype).kind
        except TypeError:  # pandas-only dtypes (category, string, ...)
            code = "O"
        columns[name] = [_WARM_VALUES.get(code, "")]
    frame, problems = schema.check(columns)
    return frame if not problems else None


# Why: scikit-learn re-checks a DataFrame's feature names and dtypes on every predict (about 0.6 ms
# of a 0.75 ms single-row LogisticRegression.predict here). The input schema has already checked
# the columns, their order and their dtypes, so for an all-numeric model fitted on exactly these
# columns the frame's array is the same input without the repeated checks.
_NO_NAMES_WARNING = "X does not have valid feature names"


def takes_plain_array(model: Any, schema: InputSchema | None) -> bool:
    """Whether `model` can predict on the frame's numpy array instead of the frame: a scikit-learn
    style model fitted on exactly the schema's columns, in order, all numeric, whose predictions on
    the warm-up row are the same either way (a pipeline selecting columns by name fails that test)."""
    names = getattr(model, "feature_names_in_", None)
    if schema is None or names is None or [str(n) for n in names] != schema.names:
        return False
    import numpy as np

    try:
        if any(np.dtype(dtype).kind not in "iuf" for _name, _kind, dtype in schema.columns):
            return False
    except TypeError:  # a pandas-only dtype
        return False
    frame = warm_frame(schema)
    if frame is None:
        return False
    _quiet_no_names_warning()
    try:
        return bool(predict_rows(model, frame, 1) == predict_rows(model, frame, 1, plain=True))
    except Exception:  # the model needs the frame (column names, dtypes): keep giving it one
        return False


def _quiet_no_names_warning() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=_NO_NAMES_WARNING, category=UserWarning)


def predict_rows(model: Any, frame: Any, rows: int, plain: bool = False) -> list[Any]:
    """`model.predict(frame)` as a list of JSON-ready outputs, one per row (`plain`: predict on the
    frame's numpy array, for models where `takes_plain_array` holds)."""
    from mlnb.model_monitoring.records import jsonable

    result = model.predict(frame.to_numpy() if plain else frame)
    if hasattr(result, "to_numpy"):  # a pandas Series or DataFrame
        result = result.to_numpy()
    values = result.tolist() if hasattr(result, "tolist") else list(result)
    if len(values) != rows:
        raise ValueError(f"predict returned {len(values)} outputs for {rows} rows")
    return [v if type(v) in _PLAIN else jsonable(v) for v in values]


_PLAIN = (int, str, bool)  # floats go through jsonable (NaN and infinities are not JSON)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]
