"""Model URIs and the checks on names, aliases, versions and free text (one-line errors)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlnb.errors import InvalidValueError, MlnbError
from mlnb.store.events import clean_text

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,63}")
PROTECTED_ALIAS = "champion"


@dataclass(frozen=True)
class ModelURI:
    """`name/3`, `name@alias` or `name@latest`."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelURI:
        if not isinstance(uri, str):
            raise MlnbError(f"a model URI is a string like 'churn/3' or 'churn@champion', got {uri!r}")
        if "@" in uri:
            name, alias = uri.split("@", 1)
            if NAME_RE.fullmatch(name) and ALIAS_RE.fullmatch(alias):
                return cls(name, alias=alias)
        elif "/" in uri:
            name, version = uri.rsplit("/", 1)
            if NAME_RE.fullmatch(name) and version.isdigit():
                return cls(name, version=int(version))
        raise MlnbError(f"bad model URI {uri!r}; use name/3, name@champion or name@latest")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidValueError(f"bad model name {name!r}; use letters, digits, '_', '-', '.' (max 128)")
    return name


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias) or alias == "latest":
        raise InvalidValueError(f"bad alias {alias!r}; use a word like 'champion' or 'challenger' ('latest' is built in)")
    return alias


def check_version(version: Any) -> int:
    """A version number (an int, or digits as text) as an int, else a one-line error."""
    if isinstance(version, bool) or not isinstance(version, int) and not str(version).isdigit():
        raise InvalidValueError(f"version must be a version number like 3, got {str(version)[:40]!r}")
    return int(version)


def check_text(value: Any, what: str) -> str | None:
    """Free text (a description, a reason): a str or None, else a one-line error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be text, got {type(value).__name__} {str(value)[:40]!r}; pass a str")
    return clean_text(value)


def check_labels(tags: Any) -> dict[str, str] | None:
    """Version tags: a dict; keys and values are stored as text (str())."""
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise InvalidValueError(f"tags must be a dict of names to values, got {type(tags).__name__}")
    return {clean_text(str(k)): clean_text(str(v)) for k, v in tags.items()}
