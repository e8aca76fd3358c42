"""Keep secrets out of the store: every captured text passes through `redact_text` first.

Three rule families, each one pre-compiled regex whose scan runs in C (family 1 is only run
on the few lines a fast candidate scan points at; no Python loop visits every line):

1. assignments: a string literal given to a sensitive *name* (`API_KEY = "..."`, dict keys,
   keyword args, `os.environ[...]`, env/INI/YAML lines, `--token value`); only the value is
   replaced, so the code stays readable;
2. token formats recognisable on their own (AWS, GitHub, Slack, JWT, PEM blocks, URL passwords...);
3. exact values known to be secret: `known_secrets()` = the sensitive values of the environment
   as it is *now* (re-read when `os.environ` changes, e.g. after `load_dotenv()`) plus values the
   session learned (`learn_secrets`: literals assigned to sensitive names in its code, values of
   sensitive variables and parameters), so a printed or interpolated secret is masked too.

The replacement is always `***`, which no rule turns into anything else, so redacting twice
gives the same text as redacting once.
"""
from __future__ import annotations

import ast
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any, overload

MASK = "***"
MIN_EXACT_LENGTH = 8  # shorter exact values would also hit ordinary words and numbers
MIN_ENV_SECRET_LENGTH = 4

# Every sensitive name contains one of these: a cheap pre-check and the anchor of family 1.
_KEYWORDS = ("key", "token", "secret", "pass", "pw", "credential", "auth")
_KW = f"(?i:{'|'.join(_KEYWORDS)})"

# Matched against a normalised name (lower case, runs of other characters turned into "_").
_SENSITIVE_NAME = re.compile(
    r"api_?key|.+_key$|(?:access|secret|private|pass|auth|master|licen[cs]e|signing|encryption|client|app"
    r"|session|ssh|hmac|consumer|subscription|account|storage|service|webhook|deploy)key$"
    r"|token(?![a-z])|secret(?!ar)|passw(?:or)?d|passphrase|(?:^|_)pass$|(?:^|_)pw$|.pwd$|credential"
    r"|auth(?!or(?!i[sz]))")
# Names that match the rules above but, in ML code, almost always hold ordinary strings:
# structural dict keys (`label_key="label"`), tokenizer special tokens (`pad_token="<pad>"`),
# token bookkeeping, auth *settings*, and names of files/env vars/URLs that point at a secret.
_ORDINARY_NAME = re.compile(
    r"(?:.*_)?(?:sort|primary|foreign|partition|range|hash|cache|group|join|lookup|dict|map|row|col|column"
    r"|index|idx|id|label|target|input|output|memory|text|metric|config|state|data|dataset|item|feature|image"
    r"|prompt|response|context|question|answer|name|field|sample|batch|rng|prng|seed|split|model|layer|ckpt"
    r"|checkpoint|hot|unique|result|value|file|s3|object|bucket|event|message|msg|log|loss|score|order)_key"
    r"|(?:.*_)?(?:pad|eos|bos|unk|sep|cls|mask|sos|start|end|stop|special|image|audio|video|placeholder|eot"
    r"|prefix|suffix|middle|fim|begin|sentinel)_?token(?:_ids?|_str)?"
    r"|(?:.*_)?token_(?:ids?|type|types|count|len|length|limit|index|idx|num|size|budget|usage|logprobs?"
    r"|probs?|embeddings?|level|str|text|span|offsets?)"
    r"|(?:.*_)?auth(?:entication)?_(?:type|method|mode|scheme|provider|enabled|required|backend|plugin)"
    r"|(?:.*_)?old_?pwd|.*_(?:file|filename|path|dir|directory|env|var|name|header|url|uri|endpoint)"
    r"|(?:.*_)?(?:first|second|third|final|last|next|prev|forward|backward|single|multi|n|num|one|two|dry"
    r"|train|eval|test|val|fast|slow|full|render|shadow|depth|color|light)_pass")

_STR_PREFIX = "[rRbBuUfF]{0,2}"
_NAME = rf"[\w.-]*?{_KW}[\w.-]*"
_QNAME = rf"[\w. -]*?{_KW}[\w. -]*"


def _body(q: str) -> str:
    """A non-empty string-literal body closed by the quote captured in group `q` (not consumed)."""
    return rf"(?:(?!(?P={q}))[^\\\n]|\\.)+(?=(?P={q}))"


# A bare value inside a line ends at a space, a list separator, a quote, a bracket or a URL's next `&name=`.
_INLINE_VALUE = r"""(?![=\s'"(\[{&])(?:[^\s&;,'"()<>\[\]{}#]|&(?!\w+=))+"""

# Family 1. Each alternative is `(?P<kX> ...context kept... (?P<nX>name)...) secret`, so the
# callback keeps group kX (the last group to close) and masks the rest of the match.
_ASSIGNMENT = re.compile(
    # NAME = "v", NAME: str = "v", f(name="v"), name := "v", YAML `name: "v"`
    rf"(?P<ka>(?<![\w.-])(?P<na>{_NAME})(?:[ \t]*(?::[ \t]*[\w.\[\], |]+?[ \t]*)?:?=(?!=)|[ \t]*:)[ \t]*"
    rf"{_STR_PREFIX}(?P<qa>[\"'])){_body('qa')}"
    # {"name": "v"}, env["NAME"] = "v", JSON
    rf"|(?P<kb>(?P<qn>[\"'])(?P<nb>{_QNAME})(?P=qn)[ \t]*(?:\][ \t]*=(?!=)|:)[ \t]*{_STR_PREFIX}(?P<qb>[\"']))"
    rf"{_body('qb')}"
    # os.environ.setdefault("NAME", "v"), os.getenv("NAME", "default"), os.putenv(...)
    rf"|(?P<kc>(?:setdefault|putenv|getenv|get|setenv|set|pop)\([ \t]*(?P<qm>[\"'])(?P<nc>{_QNAME})(?P=qm)"
    rf"[ \t]*,[ \t]*{_STR_PREFIX}(?P<qc>[\"'])){_body('qc')}"
    # --token value, --password="v"
    rf"|(?P<kd>(?<![\w-])--(?P<nd>{_NAME})(?:=|[ \t]+)(?P<qd>[\"'])?)"
    rf"(?(qd){_body('qd')}|(?![-\s'\"])[^\s'\"]+)"
    # env file / INI / YAML lines with a bare value: NAME=value, export NAME=value, name: value,
    # also as a line of a diff (`+DB_PASSWORD=x`, `-  token: abc`)
    rf"|(?P<ke>^[+-]?[ \t]*(?:(?:export|set|%env)[ \t]+|-[ \t]+)?(?P<ne>{_NAME})[ \t]*[=:][ \t]*)"
    r"(?![=\s'\"])\S+(?=[ \t\r]*$)"
    # name=value inside a line: URL queries (?api_key=v&x=1), log lines, DSNs (`host=h password=v`)
    rf"|(?P<kf>(?<![\w.-])(?P<nf>{_NAME})=){_INLINE_VALUE}",
    re.MULTILINE)
# Bare line values that are code or settings rather than secrets: numbers, booleans, names
# without digits (`token: str`, `api_key = key`), calls/subscripts, containers.
_ORDINARY = (r"[-+]?[\d_.]+(?:e[-+]?\d+)?|true|false|none|null|yes|no|on|off|~"
             r"|[a-z_][a-z_.]*|[a-z_][\w.]*[(\[].*|[(\[{].*")
_ORDINARY_VALUE = re.compile(_ORDINARY, re.IGNORECASE)
# Lines worth running `_ASSIGNMENT` on, found in the lower-cased text: a keyword, the rest of
# the name, a separator and a string literal or a non-ordinary bare value up to the line end;
# or a `--flag` with a keyword. A superset of what `_ASSIGNMENT` masks, but only a few lines.
_CANDIDATE_TAIL = (
    r"""(?:["']?[ \t]*(?:\][ \t]*=|[:=,])[ \t]*[rbuf]{0,2}["']"""
    r"""|[ \t]*:[\w.\[\], |]*=[ \t]*[rbuf]{0,2}["']"""
    rf"""|[ \t]*[=:][ \t]*(?![=\s'"])(?!(?i:{_ORDINARY})[ \t\r]*$)\S+[ \t\r]*$"""
    rf"""|=(?!(?:[a-z_][a-z_.]*|[-+]?[\d_.]+)(?:[\s;,'"()<>\[\]{{}}#]|&\w+=|$)){_INLINE_VALUE})""")
_CANDIDATE = re.compile(
    "|".join(rf"{word}[\w.-]*(?:{_CANDIDATE_TAIL})" for word in _KEYWORDS)
    + rf"|-(?<![\w-].)-[\w.-]*?{_KW}", re.MULTILINE)
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}

# Family 2. Every alternative starts with a plain character (no `\b`, no group): then `re`
# skips ahead in C to the few characters that can start one. `_b` puts the word-boundary check
# just after that character. If the alternative holds an (empty) group, only the text after it
# is secret; otherwise the whole match is.
def _b(pattern: str) -> str:
    return pattern[0] + r"(?<!\w.)" + pattern[1:]


_AUTH_TAIL = r"[\"']?[ \t]*[:=][ \t]*[\"']?(?:(?i:basic|bearer|token|digest)[ \t]+)?()[^\s'\",]{8,}"
_AWS_TAIL = r"(?i:ws_?secret_?(?:access_?)?key)[\"']?[ \t]*[:=][ \t]*[\"']?()[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
_BEARER_TAIL = r"earer[ \t]+()(?=[\w.~+/-]*\d)[\w.~+/-]{8,}=*"
_TOKENS = re.compile("|".join((
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY[ A-Z]*-----(?s:.*?)(?:-----END[ A-Z0-9]*PRIVATE KEY[ A-Z]*-----|\Z)",
    _b(r"AKIA[A-Z0-9]{16}\b"), _b(r"ASIA[A-Z0-9]{16}\b"),          # AWS access key ids
    "a" + _AWS_TAIL, "A" + _AWS_TAIL,                                 # AWS secret key next to its name
    _b(r"gh[pousr]_[A-Za-z0-9]{20,}"), _b(r"github_pat_\w{20,}"),   # GitHub
    _b(r"glpat-[\w-]{20,}"),                                          # GitLab
    _b(r"xox[abposr]-[A-Za-z0-9-]{10,}"),                             # Slack
    _b(r"sk_(?:live|test)_[A-Za-z0-9]{16,}"), _b(r"rk_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    _b(r"sk-[\w-]{20,}"),                                             # OpenAI and alike
    _b(r"AIza[\w-]{35}"),                                             # Google API keys
    _b(r"eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]*"),                       # JWT
    _b("authorization" + _AUTH_TAIL), _b("Authorization" + _AUTH_TAIL),  # Authorization headers
    _b("b" + _BEARER_TAIL), _b("B" + _BEARER_TAIL),                  # Bearer <token> (with a digit)
    r"://[^:@/\s'\"]*:()[^@/\s'\"]+(?=@)",                           # scheme://user:password@host
)))


@lru_cache(maxsize=4096)
def is_sensitive_name(name: str) -> bool:
    """True for names like `api_key`, `GITHUB_TOKEN`, `db_password` (but not `author`, `tokenizer`)."""
    norm = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return bool(_SENSITIVE_NAME.search(norm)) and not _ORDINARY_NAME.fullmatch(norm)


def _token_span(m: re.Match[str]) -> tuple[int, int]:
    """The secret part of a family-2 match: after its group if it has one, else all of it."""
    return (m.end(m.lastindex) if m.lastindex else m.start()), m.end()


def _mask_token(m: re.Match[str]) -> str:
    return m.string[m.start():_token_span(m)[0]] + MASK


def _assigned_secret(m: re.Match[str]) -> str | None:
    """The secret value of a family-1 match, or None when its name or value is ordinary."""
    kept = m.lastgroup or ""
    if not is_sensitive_name(m.group("n" + kept[1:])):
        return None
    value = m.group(0)[m.end(kept) - m.start():]
    if kept in ("ke", "kf") and _ORDINARY_VALUE.fullmatch(value):
        return None
    return value


def _mask_assignment(m: re.Match[str]) -> str:
    return m.group(0) if _assigned_secret(m) is None else m.group(m.lastgroup or "") + MASK


@lru_cache(maxsize=16)
def _exact_matcher(values: frozenset[str]) -> re.Pattern[str] | None:
    """One alternation, longest first, so a secret containing another is masked as a whole."""
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=lambda v: (-len(v), v))))


def _candidate_lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line holding a family-1 candidate (keyword + separator), in order.

    `_ASSIGNMENT` must try every position, which costs ~5 MB/s over a whole text; the
    candidate scan runs on the lower-cased text at ~40-100 MB/s and every family-1 form lies
    within one line, so working line by line is equivalent and only touches a few lines.
    """
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII characters lengthen when lower-cased
        low = text.translate(_ASCII_LOWER)
    if not any(word in low for word in _KEYWORDS):
        return
    done = 0
    for m in _CANDIDATE.finditer(low):
        if m.start() < done:
            continue  # that line was already handled
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        done = len(text) if end < 0 else end
        yield start, done


def _redact_assignments(text: str) -> str:
    """Family 1, applied only to the candidate lines."""
    out: list[str] = []
    done = 0
    for start, end in _candidate_lines(text):
        out += (text[done:start], _ASSIGNMENT.sub(_mask_assignment, text[start:end]))
        done = end
    return "".join(out) + text[done:] if out else text


def secrets_in_code(text: str) -> set[str]:
    """Values that family 1 would mask in `text` (literals given to sensitive names), long
    enough to be masked wherever they appear later: printed, in an f-string, an error message."""
    found: set[str] = set()
    for start, end in _candidate_lines(text):
        for m in _ASSIGNMENT.finditer(text, start, end):
            value = _assigned_secret(m)
            if value is None or MASK in value:
                continue
            found.add(value)
            if "\\" in value and m.lastgroup in ("ka", "kb", "kc", "kd"):
                found.add(_unescape(value))  # what `print` shows of "a\"b"
    return {v for v in found if len(v) >= MIN_EXACT_LENGTH}


def _unescape(body: str) -> str:
    try:
        return str(ast.literal_eval(f'"""{body}"""'))
    except (ValueError, SyntaxError):
        return body


def redact_text(text: str, extra_values: Iterable[str] = ()) -> str:
    """Return `text` with secrets replaced by `***` (see the module docstring for the rules)."""
    if not text:
        return text
    exact = _exact_matcher(frozenset(v for v in extra_values if len(v) >= MIN_EXACT_LENGTH))
    if exact is not None:
        text = exact.sub(MASK, text)
    text = _TOKENS.sub(_mask_token, text)
    return _redact_assignments(text)


@overload
def redact_value(obj: str, name: str | None = None, extra_values: Iterable[str] = ()) -> str: ...


@overload
def redact_value(obj: Any, name: str | None = None, extra_values: Iterable[str] = ()) -> Any: ...


def redact_value(obj: Any, name: str | None = None, extra_values: Iterable[str] = ()) -> Any:
    """Redact a param or variable value.

    Under a sensitive `name` the whole value becomes `***` (except None/booleans, which say
    "set or not" and nothing more). Strings equal to a known secret (any length >= 4) or
    containing secrets are masked; dicts, lists and tuples are redacted item by item, with
    dict keys acting as names.
    """
    if obj is None or isinstance(obj, bool) or (isinstance(obj, str) and not obj):
        return obj
    if name is not None and is_sensitive_name(str(name)):
        return MASK
    extra = extra_values if isinstance(extra_values, frozenset) else frozenset(extra_values)
    if isinstance(obj, str):
        return MASK if obj in extra and len(obj) >= MIN_ENV_SECRET_LENGTH else redact_text(obj, extra)
    if isinstance(obj, Mapping):
        return {k: redact_value(v, k if isinstance(k, str) else None, extra) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [redact_value(v, None, extra) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


_BORING_ENV_VALUE = re.compile(r"true|false|none|null|yes|no|on|off|[-+]?\d+(?:\.\d+)?", re.IGNORECASE)


def environment_secrets(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Values of the environment worth redacting wherever they appear.

    - every value (>= 4 chars) of a variable with a sensitive name (`OPENAI_API_KEY`,
      `DB_PASSWORD`, `GOOGLE_APPLICATION_CREDENTIALS`...), except booleans and plain numbers
      (flags such as `HF_HUB_DISABLE_TOKEN=1` would otherwise mask every "1" or "true");
    - from any other variable, the secret parts of recognisable tokens: a `ghp_...` token, the
      password inside `DATABASE_URL=postgres://u:pw@h/db`, an AWS key id...

    Ordinary values (PATH, HOME, LANG, SHELL, numbers, paths) are not returned: masking them
    would make every path in every output unreadable. Values of 4-7 chars are returned, but
    `redact_text` only uses those >= 8 chars; `redact_value` masks a value *equal* to one.
    """
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if is_sensitive_name(name):
            if len(value) >= MIN_ENV_SECRET_LENGTH and not _BORING_ENV_VALUE.fullmatch(value.strip()):
                found.add(value)
        elif len(value) >= MIN_EXACT_LENGTH:
            for m in _TOKENS.finditer(value):
                start, end = _token_span(m)
                if end - start >= MIN_ENV_SECRET_LENGTH:
                    found.add(value[start:end])
    return frozenset(found)


# -- secrets known to this process ----------------------------------------------------------------
_env_cache: tuple[Any, frozenset[str]] = ((), frozenset())
_learned: frozenset[str] = frozenset()
_known_cache: tuple[frozenset[str], frozenset[str], frozenset[str]] = (frozenset(), frozenset(), frozenset())
_learn_lock = threading.Lock()


def _environ_signature() -> Any:
    """A cheap snapshot of `os.environ` to compare with the last one (~µs when nothing changed:
    the tuples hold the same str/bytes objects, which compare by identity first)."""
    data = getattr(os.environ, "_data", None)
    return tuple(data.items()) if isinstance(data, dict) else tuple(os.environ.items())


def current_environment_secrets() -> frozenset[str]:
    """`environment_secrets()` of the environment as it is now, recomputed only when it changed
    (a variable set after a run started, as `load_dotenv()` does, is masked from then on)."""
    global _env_cache
    signature = _environ_signature()
    cached, values = _env_cache
    if signature != cached:
        values = environment_secrets()
        _env_cache = (signature, values)
    return values


def learn_secrets(values: Iterable[Any]) -> None:
    """Remember values as secret for the rest of this process (strings or numbers)."""
    global _learned
    new = {str(v) for v in values if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    # short numbers and booleans would mask every "1" or "true"; a long number (a PIN, an
    # account token given as `-p token=987654321012`) is kept
    new = {v for v in new if len(v) >= MIN_ENV_SECRET_LENGTH and MASK not in v and not
           (_BORING_ENV_VALUE.fullmatch(v.strip()) and (len(v) < MIN_EXACT_LENGTH or not v.strip("+-").isdigit()))}
    if new - _learned:
        with _learn_lock:
            _learned = _learned | new


def secret_values(obj: Any, name: str | None = None) -> set[str]:
    """The leaves of `obj` (a param value, a dict of params...) that sit under a sensitive name."""
    if isinstance(obj, Mapping):
        return {v for key, item in obj.items() for v in secret_values(item, key if isinstance(key, str) else name)}
    if isinstance(obj, (list, tuple)):
        return {v for item in obj for v in secret_values(item, name)}
    if name is not None and is_sensitive_name(name) and isinstance(obj, (str, int, float)) \
            and not isinstance(obj, bool):
        return {str(obj)}
    return set()


def known_secrets() -> frozenset[str]:
    """Every exact value this process knows to be secret: the environment's (as it is now) and
    the learned ones. Pass it as `extra_values` to `redact_text` / `redact_value`."""
    global _known_cache
    env, learned = current_environment_secrets(), _learned
    cached_env, cached_learned, union = _known_cache
    if env is not cached_env or learned is not cached_learned:
        union = env | learned
        _known_cache = (env, learned, union)
    return union
