"""Redaction of whole documents before they are stored: notebooks, JSON outputs, git diffs.

`mlnb.redact` holds the rules for one text; this module walks the structures that reach the
store and hands every string in them to it (sources, outputs of every kind, error values and
tracebacks, SVG, plotly JSON, cell and notebook metadata). Only base64 payloads of binary
media are left as they are: they are not text, and masking inside them would corrupt them.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from mlnb.redact import (is_sensitive_name, known_secrets, learn_secrets, redact_text, redact_value,
                         secrets_in_code)

_BINARY_MIME = re.compile(r"(?:image/(?!svg)|audio/|video/|application/(?:pdf|octet-stream|zip))")
_JOINED = ("source", "text")
_SCALARS = {int, float, bool, type(None)}  # nbformat allows lists of lines; rules that span lines need the whole text


def redact_tree(obj: Any, secrets: frozenset[str], name: str | None = None) -> Any:
    """A copy of a JSON-like value with every string redacted; under a sensitive key the whole
    value is masked (a plotly `accesstoken`, papermill's `parameters: {api_token: ...}`)."""
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if isinstance(key, str) and _BINARY_MIME.match(key) and isinstance(value, (str, list)):
                out[key] = value
                continue
            if key in _JOINED and isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = "".join(value)
            new_key = redact_text(key, secrets) if isinstance(key, str) else key
            out[new_key] = redact_tree(value, secrets, key if isinstance(key, str) else None)
        return out
    if isinstance(obj, (list, tuple)) and not (name is not None and is_sensitive_name(name)):
        if set(map(type, obj)) <= _SCALARS:  # plotly data arrays: no text to look at
            return list(obj)
        return [redact_tree(item, secrets) for item in obj]
    return redact_value(obj, name, secrets)


def redact_notebook(nb: Any) -> bytes:
    """A notebook (a dict or an nbformat node) as redacted JSON bytes.

    Literals given to sensitive names in any code cell are learned first, so their values are
    masked in every output of the notebook (a printed key, an error message, a traceback).
    """
    cells = nb.get("cells", []) if isinstance(nb, Mapping) else []
    for cell in cells:
        if isinstance(cell, Mapping) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            learn_secrets(secrets_in_code("".join(source) if isinstance(source, list) else str(source)))
    clean = redact_tree(nb, known_secrets())
    return (json.dumps(clean, indent=1, ensure_ascii=False) + "\n").encode()


def redact_json_bytes(value: Any) -> bytes:
    """A JSON output (a plotly figure) redacted and serialised."""
    import orjson

    return orjson.dumps(redact_tree(value, known_secrets()), option=orjson.OPT_SERIALIZE_NUMPY)


# a diff line holding one JSON string, as in the diff of a notebook file: `+    "API_KEY = \"v\"\n",`
_JSON_STRING_LINE = re.compile(r'^([+\- ][ \t]*)("(?:[^"\\\n]|\\.)*")(,?[ \t\r]*)$', re.MULTILINE)


def redact_diff(diff: str) -> str:
    """A `git diff` with secrets masked on added, removed and context lines alike.

    Lines of a notebook's JSON are decoded first, so `"API_KEY = \\"v\\"\\n"` is seen as the
    code it holds; literals assigned in the diffed code are learned as secrets.
    """
    decoded: dict[int, str] = {}
    for m in _JSON_STRING_LINE.finditer(diff):
        if "\\" not in m.group(2):  # nothing escaped: the rules see it as it is
            continue
        try:
            text = json.loads(m.group(2))
        except ValueError:
            continue
        if isinstance(text, str):
            decoded[m.start()] = text
    learn_secrets(secrets_in_code(diff) | secrets_in_code("\n".join(decoded.values())))
    secrets = known_secrets()
    if decoded:
        def mask_line(m: re.Match[str]) -> str:
            text = decoded.get(m.start())
            clean = redact_text(text, secrets) if text is not None else None
            if clean is None or clean == text:
                return m.group(0)
            return m.group(1) + json.dumps(clean, ensure_ascii=False) + m.group(3)

        diff = _JSON_STRING_LINE.sub(mask_line, diff)
    return redact_text(diff, secrets)


def share_secrets(path: str) -> None:
    """Write the secrets this process knows to `path` (private to the user), for the process that
    started it (`mlnb run` redacts the executed notebook it gets back from the kernel)."""
    data = json.dumps(sorted(known_secrets())).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def read_shared_secrets(path: str) -> list[str]:
    """What `share_secrets` wrote (nothing when the file is missing or torn)."""
    try:
        with open(path, "rb") as handle:
            values = json.loads(handle.read() or b"[]")
    except (OSError, ValueError):
        return []
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []
