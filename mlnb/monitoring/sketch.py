"""Mergeable per-column sketches: a log-bucket histogram for numbers, exact counts for categories.

Numbers (DDSketch-like): bucket edges depend on nothing but GAMMA, so two sketches add bucket-wise
and the sketch of a union is exactly the sum of the parts' sketches. Bucket i of the positive side
holds x in (GAMMA**(i-1), GAMMA**i], the negative side the same for -x, and |x| < ZERO_EPS counts
as zero. A value read back from its bucket is within RELATIVE_ACCURACY (2%) of the original.

Beside it, a linear sketch for narrow ranges far from zero (years, coordinates, timestamps, where
2% of the value is wider than the whole spread): buckets of width 2**exp aligned at multiples of
it, exp the smallest that covers [min, max] in at most LINEAR_BUCKETS (256). Aligned power-of-two
grids nest, and that smallest exp only grows with the range, so this merges exactly too.

Categories: exact counts of every distinct value (as text, at most MAX_VALUE_CHARS characters) up
to MAX_CATEGORIES distinct values. Beyond the cap the values kept exactly are the MAX_CATEGORIES
with the smallest 64-bit hash (a rule that does not depend on how the data was partitioned), and
the others are counted in OVERFLOW_BUCKETS hashed buckets; so merging stays exact, and whether a
value was seen is still decidable for the kept range of hashes.

Pure numpy; nothing here imports pandas.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import xxhash

RELATIVE_ACCURACY = 0.02
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)
ZERO_EPS = 1e-12
MAX_CATEGORIES = 10_000
OVERFLOW_BUCKETS = 4096
MAX_VALUE_CHARS = 200

# A total order over buckets (negative side, zero, positive side) as integers, for binning.
_SIDE = 1_000_000
ZERO_KEY = 0


def bucket_key(side: str, index: int) -> int:
    """The position of a bucket in value order: negatives < zero < positives."""
    return _SIDE + index if side == "pos" else -_SIDE - index


def bucket_upper(key: int) -> float:
    """The upper end of the bucket at `key` (the bucket's values are <= it)."""
    if key == ZERO_KEY:
        return ZERO_EPS
    if key > 0:
        return float(GAMMA ** (key - _SIDE))
    return -float(GAMMA ** (-key - _SIDE - 1))


def bucket_value(key: int) -> float:
    """The representative value of a bucket: within RELATIVE_ACCURACY of any value it holds."""
    if key == ZERO_KEY:
        return 0.0
    index = key - _SIDE if key > 0 else -key - _SIDE
    mid = 2 * GAMMA ** index / (GAMMA + 1)
    return float(mid if key > 0 else -mid)


def numeric_sketch(values: np.ndarray) -> dict[str, Any]:
    """The sketch of finite float64 `values`: {"gamma", "zero", "pos": {index: n}, "neg": {...}}."""
    work = np.abs(values)
    zero = 0
    if work.size and work.min() < ZERO_EPS:
        nonzero = work >= ZERO_EPS
        zero = int(values.size - np.count_nonzero(nonzero))
        work = work[nonzero]
        values = values[nonzero]
    if work.size == 0:
        return {"gamma": GAMMA, "zero": zero, "pos": {}, "neg": {}}
    # in place on one float buffer (this is the hot loop of profiling)
    np.log(work, out=work)
    work *= 1.0 / LOG_GAMMA
    np.ceil(work, out=work)
    lo = int(work.min())
    span = int(work.max()) - lo + 1
    # one bincount over both sides: positives at 1..span, negatives at -span..-1, then shifted
    work -= lo - 1
    np.copysign(work, values, out=work)
    work += span
    counts = np.bincount(work.astype(np.int64), minlength=2 * span + 1)
    return {"gamma": GAMMA, "zero": zero, "pos": _nonzero(counts[span + 1:], lo),
            "neg": _nonzero(counts[span - 1::-1], lo)}


def _nonzero(counts: np.ndarray, lo: int) -> dict[int, int]:
    where = np.flatnonzero(counts)
    return dict(zip((where + lo).tolist(), counts[where].tolist()))


def merge_sketches(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The bucket-wise sum of two sketches (exact)."""
    if a["gamma"] != b["gamma"]:
        from mlnb.errors import InvalidValueError

        raise InvalidValueError(f"cannot merge sketches of different accuracy (gamma {a['gamma']} and {b['gamma']})")
    return {"gamma": a["gamma"], "zero": a["zero"] + b["zero"],
            "pos": _add(a["pos"], b["pos"]), "neg": _add(a["neg"], b["neg"])}


def _add(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    out = dict(a)
    for k, n in b.items():
        out[k] = out.get(k, 0) + n
    return dict(sorted(out.items()))


def sketch_buckets(sketch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(keys, counts) of the non-empty buckets in value order (see bucket_key)."""
    neg = sketch["neg"]
    pos = sketch["pos"]
    keys = [-_SIDE - i for i in sorted(neg, reverse=True)]
    counts = [neg[i] for i in sorted(neg, reverse=True)]
    if sketch["zero"]:
        keys.append(ZERO_KEY)
        counts.append(sketch["zero"])
    for i in sorted(pos):
        keys.append(_SIDE + i)
        counts.append(pos[i])
    return np.asarray(keys, dtype=np.int64), np.asarray(counts, dtype=np.int64)


def bucket_uppers(keys: np.ndarray) -> np.ndarray:
    """bucket_upper over an array of keys."""
    out = np.empty(keys.size, dtype=np.float64)
    pos = keys > 0
    neg = keys < 0
    out[pos] = GAMMA ** (keys[pos] - _SIDE).astype(np.float64)
    out[neg] = -(GAMMA ** (-keys[neg] - _SIDE - 1).astype(np.float64))
    out[keys == ZERO_KEY] = ZERO_EPS
    return out


def bucket_values(keys: np.ndarray) -> np.ndarray:
    """bucket_value over an array of keys."""
    out = np.zeros(keys.size, dtype=np.float64)
    pos = keys > 0
    neg = keys < 0
    out[pos] = 2 * GAMMA ** (keys[pos] - _SIDE).astype(np.float64) / (GAMMA + 1)
    out[neg] = -2 * GAMMA ** (-keys[neg] - _SIDE).astype(np.float64) / (GAMMA + 1)
    return out


# ---- linear buckets: resolution for narrow ranges far from zero (years, latitudes, epochs) ------

LINEAR_BUCKETS = 256
LINEAR_MIN_EXP = -1022  # 2**-e stays a finite float
_MANTISSA = 52


def linear_exponent(lo: float, hi: float, e: int = LINEAR_MIN_EXP) -> int:
    """The smallest exponent e (from `e` up) whose aligned width-2**e grid covers [lo, hi] in at most
    LINEAR_BUCKETS buckets and keeps indices exact (|x| / 2**e < 2**52).

    Both conditions only get easier as e grows and harder for a wider range, so the exponent of
    a union is the smallest one valid for the union's range: merging stays exact.
    """
    top = max(abs(lo), abs(hi))
    if top > 0:
        e = max(e, math.frexp(top)[1] - _MANTISSA)
    span = hi - lo
    if span > 0:
        e = max(e, math.frexp(span / LINEAR_BUCKETS)[1] - 1)
    while math.floor(hi / 2.0**e) - math.floor(lo / 2.0**e) + 1 > LINEAR_BUCKETS:
        e += 1
    return e


def linear_sketch(values: np.ndarray, lo: float, hi: float) -> dict[str, Any]:
    """{"exp": e, "counts": {index: n}}: bucket index i holds [i * 2**e, (i + 1) * 2**e)."""
    if values.size == 0:
        return {"exp": LINEAR_MIN_EXP, "counts": {}}
    e = linear_exponent(lo, hi)
    return {"exp": e, "counts": _linear_counts(values, e)}


def _linear_counts(values: np.ndarray, e: int) -> dict[int, int]:
    if values.size == 0:
        return {}
    scaled = values * 2.0**-e
    np.floor(scaled, out=scaled)
    index = scaled.astype(np.int64)
    first = int(index.min())
    index -= first
    counts = np.bincount(index)
    return _nonzero(counts, first)


def rebucket(counts: dict[int, int], shift: int) -> dict[int, int]:
    """Linear counts at exponent e re-bucketed to e + shift (exact: the grids nest)."""
    if shift == 0:
        return counts
    out: dict[int, int] = {}
    for i, n in counts.items():
        j = i >> shift
        out[j] = out.get(j, 0) + n
    return out


def merge_linear(a: dict[str, Any] | None, b: dict[str, Any] | None, lo: float | None,
                 hi: float | None) -> dict[str, Any] | None:
    """The linear sketch of a union whose finite values span [lo, hi]."""
    if a is None or b is None:
        return None
    if lo is None or hi is None:
        return {"exp": max(a["exp"], b["exp"]), "counts": {}}
    e = linear_exponent(lo, hi, max(a["exp"], b["exp"]))
    counts = _add(rebucket(a["counts"], e - a["exp"]), rebucket(b["counts"], e - b["exp"]))
    return {"exp": e, "counts": counts}


# ---- categories -------------------------------------------------------------------------------

def value_text(value: Any) -> str:
    """A category value as the text stored in a profile (long values shortened, kept distinct)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 18] + "…" + xxhash.xxh64_hexdigest(text.encode("utf-8", "surrogatepass"))
    return text


def value_hash(text: str) -> int:
    """The stable 64-bit hash that decides which values a capped category count keeps."""
    return int(xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass")))


def cap_categories(counts: dict[str, int], overflow: dict[str, Any] | None) -> tuple[dict[str, int], dict[str, Any] | None]:
    """Keep the MAX_CATEGORIES values of smallest hash exactly; add the rest to the hashed overflow.

    Deterministic in the set of values, so capping after a merge gives what capping the union gives.
    """
    if len(counts) > MAX_CATEGORIES:
        texts = list(counts)
        hashes = np.fromiter((value_hash(t) for t in texts), dtype=np.uint64, count=len(texts))
        order = np.argsort(hashes, kind="stable")
        if hashes[order[MAX_CATEGORIES - 1]] == hashes[order[MAX_CATEGORIES]]:
            # a 64-bit collision at the cut: order by text as well, so the kept set stays deterministic
            order = np.asarray(sorted(range(len(texts)), key=lambda i: (int(hashes[i]), texts[i])))
        kept, rest = order[:MAX_CATEGORIES], order[MAX_CATEGORIES:]
        n = np.fromiter((counts[t] for t in texts), dtype=np.int64, count=len(texts))
        lost = np.bincount((hashes[rest] % np.uint64(OVERFLOW_BUCKETS)).astype(np.int64), weights=n[rest],
                           minlength=OVERFLOW_BUCKETS).astype(np.int64)
        base = overflow["counts"] if overflow else [0] * OVERFLOW_BUCKETS
        buckets = [int(a + b) for a, b in zip(base, lost.tolist())]
        counts = {texts[i]: counts[texts[i]] for i in kept.tolist()}
        overflow = {"buckets": OVERFLOW_BUCKETS, "counts": buckets}
    if overflow is not None:
        overflow = dict(overflow, distinct_lost=_distinct_lost(counts))
    return sort_counts(counts), overflow


def hash_threshold(counts: dict[str, int]) -> int:
    """The largest kept hash of a capped count: a value of smaller hash would have been kept."""
    return max(value_hash(t) for t in counts) if counts else 0


def _distinct_lost(kept: dict[str, int]) -> int:
    # K-minimum-values estimate of the number of distinct values, from the kept (smallest) hashes
    k = len(kept)
    if k < 2:
        return 0
    top = (hash_threshold(kept) + 1) / 2.0 ** 64
    return max(0, int(round((k - 1) / top)) - k)


def merge_categories(a: dict[str, int], a_over: dict[str, Any] | None, b: dict[str, int],
                     b_over: dict[str, Any] | None) -> tuple[dict[str, int], dict[str, Any] | None]:
    """The exact category counts of a union (see cap_categories)."""
    counts = dict(a)
    for t, n in b.items():
        counts[t] = counts.get(t, 0) + n
    overflow = None
    if a_over or b_over:
        ca = a_over["counts"] if a_over else [0] * OVERFLOW_BUCKETS
        cb = b_over["counts"] if b_over else [0] * OVERFLOW_BUCKETS
        overflow = {"buckets": OVERFLOW_BUCKETS, "counts": [x + y for x, y in zip(ca, cb)]}
    return cap_categories(counts, overflow)


def sort_counts(counts: dict[str, int]) -> dict[str, int]:
    """Most frequent first, ties by text: one canonical order for the stored JSON."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
