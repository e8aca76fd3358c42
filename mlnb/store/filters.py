"""The run filter and order_by languages, compiled to parameterised DuckDB SQL.

Filter grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := field op value                      op: = (or ==) != <> < <= > >=
                | field ["not"] "like" 'pattern'      % is any text, _ is one character
                | field ["not"] "in" (value, ...)     all values of one kind
                | field "is" ["not"] "null"           is the key set at all?
    field      := params.<key> | metrics.<key> | tags.<key> | <attribute>
                  (param. metric. tag. are synonyms; attributes.<name> / attr.<name> also work)
    key        := [A-Za-z0-9_-/:.]+  (params.model.lr is key "model.lr")  |  `any text` (`` is `)
    attribute  := run_id experiment name status parent_run_id start end user host notebook git_commit
    value      := 42 | -1.5e-3 | 'text' | "text" | true | false
                  (in quotes a doubled quote or \\<quote> is the quote, \\\\ is one backslash)

Meaning:

- ``metrics.<key>`` is the latest value of the metric and compares only with numbers.
- ``params.<key> = 0.1`` compares the numeric reading of the param; ``params.<key> = 'adam'``
  compares its text. ``true``/``false`` match the text 'true'/'false' ignoring case (a Python
  bool param is stored as 'True'), on params and tags, with ``=``, ``!=`` and ``in`` only.
- Tags and text attributes compare as text; a number literal is compared as ``str(number)``.
- ``start``/``end`` take an ISO timestamp string without timezone ('2024-05-01' or
  '2024-05-01 12:00:00'); a number is an error. ``like`` on them matches their text form.
- A run without the key never matches a comparison on it, not even ``!=``, ``not like`` or
  ``not in``; write ``not (params.k = 1)`` or ``params.k is null`` to include such runs.

order_by items: ``[-|+]field [asc|desc]``, e.g. ``-metrics.acc``, ``params.lr``, ``start desc``;
several may be given in a list or comma-separated. Missing values sort last either way.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Union

from mlnb.errors import FilterError

__all__ = ["ATTRIBUTES", "And", "Comparison", "Field", "Node", "Not", "Or",
           "compile_filter", "compile_order_by", "parse_filter", "quote_string"]

ATTRIBUTES: dict[str, str] = {
    "run_id": "r.run_id", "experiment": "r.experiment", "name": "r.name", "status": "r.status",
    "parent_run_id": "r.parent_run_id", "start": "r.start_time", "end": "r.end_time",
    "user": 'r."user"', "host": "r.host", "notebook": "r.notebook", "git_commit": "r.git_commit",
}
_PREFIXES = {"params": "params", "param": "params", "metrics": "metrics", "metric": "metrics",
             "tags": "tags", "tag": "tags", "attributes": "attr", "attr": "attr"}
_TABLES = {"params": "idx.params", "metrics": "idx.metric_latest", "tags": "idx.tags"}
_OPS = {"==": "=", "=": "=", "!=": "!=", "<>": "!=", "<=": "<=", ">=": ">=", "<": "<", ">": ">"}
_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_OP_RE = re.compile(r"==|!=|<>|<=|>=|=|<|>")
_NUM_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_RE = re.compile(r"[A-Za-z0-9_\-/:.]+")
_WS_RE = re.compile(r"\s*")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_.]{1,30}|\S")
_FIELD_HELP = "use params.<key>, metrics.<key>, tags.<key> or one of " + ", ".join(ATTRIBUTES)
_ORDER_HELP = ("use [-|+]params.<key>, metrics.<key>, tags.<key> or an attribute "
               "(start, name, ...), optionally followed by asc or desc")
_TIME_EXAMPLE = "'2024-05-01 12:00:00'"

Value = Union[int, float, str, bool]


@dataclass(frozen=True)
class Field:
    """``kind`` is params, metrics, tags or attr; ``key`` is the key or the attribute name."""
    kind: str
    key: str


@dataclass(frozen=True)
class Comparison:
    """``field op value``. op: = != < <= > >= like, not like, in, not in, is null, is not null."""
    field: Field
    op: str
    value: Value | tuple[Value, ...] | None = None


@dataclass(frozen=True)
class And:
    """All of ``items`` hold."""
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``items`` holds."""
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """``item`` does not hold."""
    item: Node


Node = Union[Comparison, And, Or, Not]


def quote_string(value: str) -> str:
    """``value`` as a single-quoted filter literal that parses back to exactly ``value``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _kind(value: Value) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "string"


def _describe(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else f"a {_kind(value)}"


def _timestamp(text: str) -> str | None:
    """Normalised form of an ISO timestamp DuckDB can cast, or None if ``text`` is not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    # Stored times are naive; silently dropping or converting an offset would mislead.
    return None if moment.tzinfo is not None else moment.isoformat(sep=" ")


class _Parser:
    """Recursive descent over the raw text: keys may contain '-', '/', '.', so no tokenizer."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.depth = text, 0, 0

    def error(self, message: str, pos: int | None = None) -> FilterError:
        return FilterError(f"bad filter at column {(self.pos if pos is None else pos) + 1}: {message}")

    def fail(self, expected: str, pos: int | None = None) -> FilterError:
        pos = self.pos if pos is None else pos
        match = _TOKEN_RE.match(self.text, pos)
        found = repr(match.group()) if match else "end of input"
        return self.error(f"expected {expected} but found {found}", pos)

    def ws(self) -> None:
        self.pos = _WS_RE.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def at(self, char: str) -> bool:
        self.ws()
        if self.text.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def kw(self, *words: str) -> str | None:
        self.ws()
        match = _WORD_RE.match(self.text, self.pos)
        if match and match.group().lower() in words:
            self.pos = match.end()
            return match.group().lower()
        return None

    def parse(self) -> Node | None:
        self.ws()
        if self.pos == len(self.text):
            return None
        node = self.or_expr()
        self.ws()
        if self.pos < len(self.text):
            raise self.fail("'and', 'or' or end of input")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.kw("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.kw("and"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        self.depth += 1
        self.ws()
        if self.depth > 100:  # a clear error instead of Python's RecursionError
            raise self.error("nested too deeply; use fewer 'not' and '('")
        try:
            return self.not_or_group()
        finally:
            self.depth -= 1

    def not_or_group(self) -> Node:
        if self.kw("not"):
            return Not(self.not_expr())
        start = self.pos
        if self.at("("):
            node = self.or_expr()
            if not self.at(")"):
                raise self.fail(f"'and', 'or' or ')' to close the '(' at column {start + 1}")
            return node
        return self.comparison()

    def field(self) -> Field:
        self.ws()
        start = self.pos
        match = _WORD_RE.match(self.text, start)
        if not match:
            raise self.fail("a field (params.<key>, metrics.<key>, tags.<key> or an attribute)")
        word, dotted = match.group().lower(), self.text.startswith(".", match.end())
        if dotted and word in _PREFIXES:
            self.pos = match.end() + 1
            key = self.key()
            if _PREFIXES[word] != "attr":
                return Field(_PREFIXES[word], key)
            if key.lower() in ATTRIBUTES:
                return Field("attr", key.lower())
        elif not dotted and word in ATTRIBUTES:
            self.pos = match.end()
            return Field("attr", word)
        name = _KEY_RE.match(self.text, start).group()  # type: ignore[union-attr]
        raise self.error(f"unknown field '{name}'; {_FIELD_HELP}", start)

    def key(self) -> str:
        start = self.pos
        if self.text.startswith("`", start):
            key = self.quoted(start, backslash=False)
        else:
            match = _KEY_RE.match(self.text, start)
            key = match.group() if match else ""
            self.pos = match.end() if match else start
        if not key:
            raise self.fail("a key after the '.'", start)
        return key

    def quoted(self, start: int, backslash: bool) -> str:
        text, quote, out, i = self.text, self.text[start], [], start + 1
        while i < len(text):
            char = text[i]
            if char == quote and text.startswith(quote, i + 1):
                out.append(quote)
                i += 2
            elif char == quote:
                self.pos = i + 1
                return "".join(out)
            elif backslash and char == "\\" and text[i + 1:i + 2] in (quote, "\\"):
                out.append(text[i + 1])
                i += 2
            else:
                out.append(char)
                i += 1
        raise self.error(f"unterminated {'string' if backslash else 'key'}: "
                         f"expected a closing {quote} but found end of input", start)

    def value(self) -> tuple[Value, int]:
        self.ws()
        start = self.pos
        if self.text.startswith(("'", '"'), start):
            return self.quoted(start, backslash=True), start
        match = _NUM_RE.match(self.text, start)
        if match:
            self.pos, literal = match.end(), match.group()
            # Integers stay int (so a tag compares to '5', not '5.0') while they fit a BIGINT.
            if literal.lstrip("+-").isdigit() and len(literal) < 19:
                return int(literal), start
            return float(literal), start
        word = self.kw("true", "false")
        if word:
            return word == "true", start
        raise self.fail("a value (number, 'string', true, false)")

    def comparison(self) -> Comparison:
        fld = self.field()
        self.ws()
        match = _OP_RE.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            value, at = self.value()
            return self.check(Comparison(fld, _OPS[match.group()], value), at)
        negated = self.kw("not")
        word = self.kw("like", "in") if negated else self.kw("like", "in", "is")
        if word is None:
            raise self.fail("'like' or 'in' after 'not'" if negated
                            else "an operator (=, !=, <, <=, >, >=, like, in, is null)")
        if word == "is":
            negated = self.kw("not")
            if not self.kw("null"):
                raise self.fail("'null' or 'not null' after 'is'")
            return Comparison(fld, "is not null" if negated else "is null")
        op = f"not {word}" if negated else word
        if word == "like":
            value, at = self.value()
            return self.check(Comparison(fld, op, value), at)
        if not self.at("("):
            raise self.fail("'(' after 'in'")
        values: list[tuple[Value, int]] = []
        while True:
            values.append(self.value())
            if self.at(")"):
                break
            if not self.at(","):
                raise self.fail("',' or ')' in the 'in (...)' list")
        for value, at in values:
            if _kind(value) != _kind(values[0][0]):
                raise self.error(f"expected the same kind of value as the first in the list "
                                 f"but found {_describe(value)}", at)
        return self.check(Comparison(fld, op, tuple(v for v, _ in values)), values[0][1])

    def check(self, cmp: Comparison, at: int) -> Comparison:
        """Reject value kinds the field cannot compare with, pointing at the value."""
        values = cmp.value if isinstance(cmp.value, tuple) else (cmp.value,)
        kind, found = _kind(values[0]), _describe(values[0])  # type: ignore[arg-type]
        is_time = cmp.field.kind == "attr" and cmp.field.key in ("start", "end")
        if cmp.field.kind == "metrics" and kind != "number":
            raise self.error(f"expected a number (metrics are numbers) but found {found}", at)
        if "like" in cmp.op and kind != "string":
            raise self.error(f"expected a 'pattern' string after like but found {found}", at)
        if kind == "bool" and (cmp.field.kind == "attr" or cmp.op not in ("=", "!=", "in", "not in")):
            raise self.error("expected a number or 'string' (true/false work only with =, != "
                             f"and in on params and tags) but found {found}", at)
        if is_time and kind == "number":
            raise self.error(f"expected a timestamp string like {_TIME_EXAMPLE} for "
                             f"{cmp.field.key} but found {found}", at)
        if is_time and "like" not in cmp.op:
            for value in values:
                if _timestamp(value) is None:  # type: ignore[arg-type]
                    raise self.error(f"expected a timestamp string without timezone like "
                                     f"{_TIME_EXAMPLE} but found {value!r}", at)
        return cmp


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter into its syntax tree; None for an empty or all-whitespace filter."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise FilterError(f"bad filter {text!r}: give the filter as a string")
    return _Parser(text).parse()


def compile_filter(text: str | None) -> tuple[str, list[object]] | None:
    """``(sql, params)``: a boolean SQL expression over ``idx.runs r``, or None for no filter."""
    node = parse_filter(text)
    if node is None:
        return None
    params: list[object] = []
    return _sql(node, params), params


def _sql(node: Node, params: list[object]) -> str:
    if isinstance(node, (And, Or)):
        joiner = " AND " if isinstance(node, And) else " OR "
        return joiner.join(f"({_sql(item, params)})" for item in node.items)
    if isinstance(node, Not):
        return f"NOT ({_sql(node.item, params)})"
    return _comparison_sql(node, params)


def _condition(column: str, op: str, placeholder: str, count: int) -> str:
    if op in ("in", "not in"):
        return f"{column} {op.upper()} ({', '.join([placeholder] * count)})"
    if op in ("like", "not like"):
        return f"{column} {op.upper()} {placeholder}"
    return f"{column} {_SQL_OPS[op]} {placeholder}"


def _comparison_sql(cmp: Comparison, params: list[object]) -> str:
    fld = cmp.field
    values = cmp.value if isinstance(cmp.value, tuple) else (cmp.value,)
    if fld.kind == "attr":
        column, placeholder = ATTRIBUTES[fld.key], "?"
        if cmp.op.endswith("null"):
            return f"{column} IS {'NOT ' if cmp.op == 'is not null' else ''}NULL"
        if fld.key in ("start", "end") and "like" in cmp.op:
            column = f"CAST({column} AS VARCHAR)"
            params.extend(values)
        elif fld.key in ("start", "end"):
            placeholder = "CAST(? AS TIMESTAMP)"
            params.extend(_timestamp(v) for v in values)  # type: ignore[arg-type]
        else:
            params.extend(str(v) for v in values)
        return _condition(column, cmp.op, placeholder, len(values))
    table = _TABLES[fld.kind]
    params.append(fld.key)
    if cmp.op.endswith("null"):
        return (f"r.run_id {'IN' if cmp.op == 'is not null' else 'NOT IN'} "
                f"(SELECT run_id FROM {table} WHERE key = ?)")
    kind = _kind(values[0])  # type: ignore[arg-type]
    if fld.kind == "metrics" or (fld.kind == "params" and kind == "number"):
        column = "value" if fld.kind == "metrics" else "value_num"
        params.extend(float(v) for v in values)  # type: ignore[arg-type]
    elif kind == "bool":
        column = "lower(value)"
        params.extend("true" if v else "false" for v in values)
    else:
        column = "value"
        params.extend(str(v) for v in values)
    return (f"r.run_id IN (SELECT run_id FROM {table} WHERE key = ? AND "
            f"{_condition(column, cmp.op, '?', len(values))})")


def _order_item(text: str, exprs: list[str], params: list[object]) -> None:
    """Parse comma-separated ``[-|+]field [asc|desc]`` items of ``text`` into ``exprs``."""
    parser = _Parser(text)
    while True:
        descending = parser.at("-")
        ascending = not descending and parser.at("+")
        fld = parser.field()
        direction = parser.kw("asc", "desc")
        if direction and (descending or ascending):
            raise FilterError("both a sign and asc/desc")
        order = "DESC" if descending or direction == "desc" else "ASC"
        if fld.kind == "attr":
            exprs.append(f"{ATTRIBUTES[fld.key]} {order} NULLS LAST")
        else:
            # max(): a scalar subquery must never return two rows, whatever the index holds.
            columns = ("value_num", "value") if fld.kind == "params" else ("value",)
            for column in columns:
                exprs.append(f"(SELECT max({column}) FROM {_TABLES[fld.kind]} x "
                             f"WHERE x.run_id = r.run_id AND x.key = ?) {order} NULLS LAST")
                params.append(fld.key)
        parser.ws()
        if parser.pos == len(text):
            return
        if not parser.at(","):
            raise FilterError("trailing text")


def compile_order_by(items: Sequence[str] | str | None) -> tuple[list[str], list[object]]:
    """``(order_expressions, params)`` for ``ORDER BY``; newest first when nothing is given.

    Params sort by their numeric reading, then by text; ``r.run_id`` always breaks ties.
    """
    if isinstance(items, str):
        items = [items]
    exprs: list[str] = []
    params: list[object] = []
    for item in items or ():
        if not isinstance(item, str):
            raise FilterError(f"bad order_by {item!r}: {_ORDER_HELP}")
        if not item.strip():
            continue
        try:
            _order_item(item, exprs, params)
        except FilterError:
            raise FilterError(f"bad order_by {item!r}: {_ORDER_HELP}") from None
    return (exprs or ["r.start_time DESC"]) + ["r.run_id"], params
