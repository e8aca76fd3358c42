"""Ground truth for served answers: `mlnb.log_feedback(request_id, label)`."""
from __future__ import annotations

import math
import re
import time
from typing import Any

from mlnb.errors import InvalidValueError
from mlnb.events import event
from mlnb.model_registry.access import ProjectArg, store_for

REQUEST_ID = re.compile(r"[0-9a-f]{32}")
MAX_LABELS = 1_000_000  # rows of one request's label list


def log_feedback(request_id: str, label: Any, project: ProjectArg = None) -> None:
    """Attach the true `label` to the served request `request_id` (the `x-request-id` of its response).

    `label` is one value (text, number or bool) or a list with one value per row of the request
    (None for a row without one). Logging again for the same id replaces the label (the last one
    wins). An id the archive does not hold (yet) is still stored: feedback may arrive before the
    answer is ingested, or from another process; it simply matches nothing until the answer shows up.
    Secret-looking text in a label is masked before it is stored, as in archived inputs.
    """
    request_id = check_request_id(request_id)
    value = check_label(label)
    from mlnb.runinfo import user_name

    store = store_for(project, create=True)
    store.writer.emit(event("serve_feedback", id=request_id, label=value, t=time.time(), user=user_name()))


def check_request_id(request_id: Any) -> str:
    """`request_id` if it is 32 hex characters (lowercased), else a one-line InvalidValueError."""
    if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id.lower()):
        shown = repr(request_id)[:60]
        raise InvalidValueError(f"request_id must be the 32 hex characters of a response's x-request-id, "
                                f"got {shown}", field="request_id")
    return request_id.lower()


def check_label(label: Any) -> Any:
    """`label` as JSON (a scalar, or a list of scalars with None for unknown rows), secrets masked."""
    if hasattr(label, "tolist") and not isinstance(label, (str, bytes)):  # numpy arrays, pandas Series
        label = label.tolist()
    if isinstance(label, (list, tuple)):
        if not label:
            raise InvalidValueError("label is an empty list; give one value, or one per row", field="label")
        if len(label) > MAX_LABELS:
            raise InvalidValueError(f"label has {len(label)} values; at most {MAX_LABELS} per request",
                                    field="label")
        return [_scalar(v, f"label[{i}]", allow_none=True) for i, v in enumerate(label)]
    return _scalar(label, "label", allow_none=False)


def _scalar(value: Any, what: str, allow_none: bool) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if value is None:
        if allow_none:
            return None
        raise InvalidValueError("label is None; give the true value (text, a number or a bool)", field="label")
    if isinstance(value, float) and not math.isfinite(value):
        if allow_none and math.isnan(value):
            return None  # a missing row label
        raise InvalidValueError(f"{what} is {value}; a label must be a finite number, text or a bool",
                                field="label")
    if isinstance(value, (bool, int, float)):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise InvalidValueError(f"{what} is too large an integer to store", field="label")
        return value
    if isinstance(value, str):
        from mlnb.serving.secrets import MASK
        from mlnb.redact import redact_text

        return MASK if redact_text(value) != value else value
    raise InvalidValueError(f"{what} is a {type(value).__name__}; a label is text, a number or a bool "
                            f"(or a list of them, one per row)", field="label")
