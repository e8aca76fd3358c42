"""Masking what looks like a secret in archived request inputs, before anything is stored."""
from __future__ import annotations

from typing import Any

MASK = "***"


def masked_columns(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """`columns` with every value of a secret-named column (password, api_key, ...) and every
    secret-looking text value replaced by MASK. Numbers pass through untouched (the fast path)."""
    from mlnb.redact import is_sensitive_name, redact_text

    out: dict[str, list[Any]] = {}
    for name, values in columns.items():
        if is_sensitive_name(str(name)):
            out[name] = [MASK if v is not None else None for v in values]
        else:
            out[name] = [MASK if isinstance(v, str) and redact_text(v) != v else v for v in values]
    return out
