"""Calibrated alarm thresholds: what distance a column shows by chance, at this batch size.

Raw p-values at large n flag trivial shifts (a KS test at n = 1M flags a 0.02-sigma shift), and a
fixed PSI cut-off is either deaf at small n or noisy at large n. So a column's thresholds come
from its own reference:

1. Null distribution, by parametric bootstrap from the reference histogram p (the drift bins plus
   a "missing" bin): RESAMPLES times, draw a reference R* ~ Multinomial(n_reference, p) and a
   current C* ~ Multinomial(n_current, p), and compute PSI(R*, C*). Resampling both sides mimics
   comparing two independent samples of one population, which is what "no drift" means.
2. Thresholds: warn at the WARN_PERCENTILE (99.5th) and drift at the DRIFT_PERCENTILE (99.9th) of
   that distribution; each the larger of the empirical percentile and the percentile of a scaled
   chi-squared fitted to its mean and variance (Wilson-Hilferty), so the far tail is stable with a
   few thousand resamples.
3. Floors (minimum effect sizes): never warn below PSI MIN_WARN (0.002) nor drift below PSI
   MIN_DRIFT (0.005), so huge batches do not alarm on shifts nobody cares about. For a normal
   column a location shift of d sigma gives PSI ~ d**2: 0.002 ~ 0.045 sigma, 0.005 ~ 0.07 sigma
   (a 0.1-sigma shift, PSI ~ 0.01, is flagged as drift from n ~ 10k rows on).

The null sample is cached per (reference histogram, reference rows, current rows rounded to two
significant digits), so repeated checks against a stored profile cost nothing after the first.
Seeds derive from that key: the same inputs give the same thresholds.
"""
from __future__ import annotations

import math
import threading
import zlib
from collections import OrderedDict
from statistics import NormalDist
from typing import Any

import numpy as np

from mlnb.errors import InvalidValueError

RESAMPLES = 2000
WARN_PERCENTILE = 99.5
DRIFT_PERCENTILE = 99.9
MIN_WARN = 0.002
MIN_DRIFT = 0.005
UNSEEN_WARN = 0.001  # share of the current rows holding categories the reference never had
UNSEEN_DRIFT = 0.01
BINS = 20
PSI_EPS = 1e-4  # proportions are floored here: empty bins do not make PSI infinite

DEFAULTS: dict[str, float] = {
    "warn_percentile": WARN_PERCENTILE, "drift_percentile": DRIFT_PERCENTILE,
    "min_warn": MIN_WARN, "min_drift": MIN_DRIFT, "unseen_warn": UNSEEN_WARN, "unseen_drift": UNSEEN_DRIFT,
    "bins": BINS,
}
_KEYS = set(DEFAULTS) | {"warn", "drift", "columns"}

_CACHE: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
_CACHE_SIZE = 512
_CACHE_LOCK = threading.Lock()  # checks may run in server threads


def psi(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Population stability index between count vectors (rows of 2-D inputs are separate pairs)."""
    p = np.maximum(ref / np.maximum(ref.sum(axis=-1, keepdims=True), 1), PSI_EPS)
    q = np.maximum(cur / np.maximum(cur.sum(axis=-1, keepdims=True), 1), PSI_EPS)
    out: np.ndarray = ((q - p) * np.log(q / p)).sum(axis=-1)
    return out


def js_distance(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count vectors."""
    p = ref / max(ref.sum(), 1)
    q = cur / max(cur.sum(), 1)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(math.sqrt(max(0.0, (kl_p + kl_q) / 2)))


def round_n(n: int) -> int:
    """n rounded to two significant digits (the calibration cache's granularity)."""
    if n < 100:
        return max(int(n), 1)
    digits = int(math.floor(math.log10(n))) - 1
    return int(round(n / 10**digits) * 10**digits)


def null_psi(ref_counts: np.ndarray, n_current: int, resamples: int = RESAMPLES) -> np.ndarray:
    """Sorted PSI values between independent resamples of the reference at both sizes (cached)."""
    ref_counts = np.asarray(ref_counts, dtype=np.int64)
    n_ref = int(ref_counts.sum())
    n_cur = round_n(n_current)
    key = (ref_counts.tobytes(), n_ref, n_cur, resamples)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    p = ref_counts / max(n_ref, 1)
    r = rng.multinomial(max(n_ref, 1), p, size=resamples)
    c = rng.multinomial(n_cur, p, size=resamples)
    out = np.sort(psi(r, c))
    with _CACHE_LOCK:
        _CACHE[key] = out
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out


def percentile(null: np.ndarray, pct: float) -> float:
    """The pct-th percentile of a null sample: the larger of the empirical one and that of a scaled
    chi-squared with the sample's mean and variance (Wilson-Hilferty)."""
    empirical = float(np.percentile(null, pct))
    mean = float(null.mean())
    var = float(null.var())
    if mean <= 0 or var <= 0:
        return empirical
    scale = var / (2 * mean)
    dof = 2 * mean * mean / var
    z = NormalDist().inv_cdf(pct / 100)
    h = 2 / (9 * dof)
    fitted = scale * dof * max(0.0, 1 - h + z * math.sqrt(h)) ** 3
    return max(empirical, fitted)


def thresholds_for(ref_counts: np.ndarray, n_current: int, settings: dict[str, Any]) -> tuple[float, float]:
    """(warn_at, drift_at) for PSI of one column against `ref_counts` at a batch of `n_current` rows."""
    if "warn" in settings and "drift" in settings:
        return float(settings["warn"]), float(settings["drift"])
    null = null_psi(ref_counts, n_current)
    warn = max(percentile(null, settings["warn_percentile"]), settings["min_warn"])
    drift = max(percentile(null, settings["drift_percentile"]), settings["min_drift"], warn)
    if "warn" in settings:
        warn = float(settings["warn"])
    if "drift" in settings:
        drift = float(settings["drift"])
    return warn, drift


def settings(overrides: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(effective settings, validated overrides) from `thresholds=`; one line InvalidValueError.

    Keys: warn / drift (fixed PSI thresholds: no calibration), warn_percentile / drift_percentile,
    min_warn / min_drift (floors), unseen_warn / unseen_drift (shares), bins (drift histogram bins),
    columns ({name: {any of these}} for one column).
    """
    if overrides is None:
        return dict(DEFAULTS), {}
    if not isinstance(overrides, dict):
        raise InvalidValueError(f"thresholds must be a dict like {{'warn': 0.1, 'drift': 0.2}}, not {type(overrides).__name__}")
    used = _check(overrides, "thresholds", allow_columns=True)
    effective = {**DEFAULTS, **{k: v for k, v in used.items() if k != "columns"}}
    return effective, used


def for_column(effective: dict[str, Any], used: dict[str, Any], column: str) -> dict[str, Any]:
    """The settings of one column (a per-column override wins)."""
    per = used.get("columns", {}).get(column)
    out = {**effective, **per} if per else effective
    _order(out, f"thresholds for column {column!r}")
    return out


def _check(d: dict[str, Any], where: str, allow_columns: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if key not in _KEYS or (key == "columns" and not allow_columns):
            raise InvalidValueError(f"unknown key {key!r} in {where}: use one of {sorted(_KEYS - {'columns'} if not allow_columns else _KEYS)}", field=str(key))
        if key == "columns":
            if not isinstance(value, dict):
                raise InvalidValueError("thresholds['columns'] must map a column name to a dict of thresholds", field="columns")
            out[key] = {str(c): _check(v if isinstance(v, dict) else _not_dict(c), f"thresholds for column {c!r}", False)
                        for c, v in value.items()}
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidValueError(f"threshold {key!r} must be a non-negative number, not {value!r}", field=str(key))
        if key.endswith("percentile") and not 0 < value < 100:
            raise InvalidValueError(f"threshold {key!r} is a percentile: between 0 and 100, not {value!r}", field=str(key))
        if key == "bins" and (int(value) != value or not 2 <= value <= 1000):
            raise InvalidValueError(f"threshold 'bins' must be a whole number from 2 to 1000, not {value!r}", field="bins")
        out[key] = int(value) if key == "bins" else float(value)
    _order(out, where)
    return out


def _not_dict(column: Any) -> dict[str, Any]:
    raise InvalidValueError(f"thresholds for column {column!r} must be a dict like {{'drift': 0.2}}", field="columns")


def _order(d: dict[str, Any], where: str) -> None:
    for lo, hi in (("warn", "drift"), ("warn_percentile", "drift_percentile"), ("min_warn", "min_drift"),
                   ("unseen_warn", "unseen_drift")):
        if lo in d and hi in d and d[lo] > d[hi]:
            raise InvalidValueError(f"{where}: {lo!r} ({d[lo]}) must not exceed {hi!r} ({d[hi]})", field=lo)


def describe(effective: dict[str, Any]) -> str:
    """The method text stored with a report."""
    if "warn" in effective and "drift" in effective:
        return f"fixed thresholds on PSI: warn at {effective['warn']}, drift at {effective['drift']} (set by thresholds=)"
    return (f"PSI over {int(effective['bins'])} reference-quantile bins (+ missing; categories: the top ones + other + missing); "
            f"warn/drift at the {effective['warn_percentile']}th/{effective['drift_percentile']}th percentile of PSI between "
            f"{RESAMPLES} pairs of independent multinomial resamples of the reference at the reference's and the current "
            f"batch's sizes, floored at PSI {effective['min_warn']}/{effective['min_drift']}; categories unseen in the "
            f"reference warn/drift above a share of {effective['unseen_warn']}/{effective['unseen_drift']} of the batch "
            f"beyond the Good-Turing expectation")
