"""Drift between a reference profile and a current one, column by column, with calibrated alarms.

Per column, against the reference's drift bins (numbers: BINS = 20 reference-quantile bins snapped
to sketch buckets, open tails, +-inf in the tails; categories: the MAX_CATEGORY_BINS = 200 most
frequent reference categories + "other"; both + a "missing" bin for nulls and NaN):
- psi: population stability index, sum (q - p) ln(q / p), proportions floored at 1e-4. The alarm
  statistic: its warn/drift thresholds come from mlnb.monitoring.calibration (bootstrap of the
  reference at the current batch size, percentiles 99.5 / 99.9, floors PSI 0.002 / 0.005).
- js: Jensen-Shannon distance (base 2, 0..1) on the same bins.
- wasserstein (numbers): W1 between the two sketches (bucket resolution, finite values) divided
  by the reference's standard deviation: a 0.1-sigma shift reads 0.1.
- ks, ks_p, ks_p_adjusted (numbers): the two-sample Kolmogorov-Smirnov statistic on the sketches'
  bucket boundaries, its asymptotic p-value (no scipy) and the Benjamini-Hochberg adjusted p-value
  over the report's columns. Reported, never used for status: at large n every p is tiny.
- chi2 (categories): Pearson's chi-squared statistic of homogeneity on the bins.
- missing_reference / missing_current: share of rows null or NaN.
- unseen_categories / unseen_share: current values the reference never had (up to 20 listed) and
  their share of the current non-null values; a share beyond UNSEEN_WARN / UNSEEN_DRIFT (0.1% /
  1%) plus the Good-Turing expectation (reference singletons / reference count, so id-like
  columns do not alarm) warns / drifts.
Schema: columns added (reported, not an alarm), removed (drift), retyped (a different kind:
drift; same kind, another dtype family such as int -> float: warn; int32 -> int64: listed only). The report's status is the worst column status.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from mlnb.errors import InvalidValueError
from mlnb.monitoring import calibration as cal
from mlnb.monitoring import sketch as sk
from mlnb.monitoring.profile import NUMERIC_KINDS, Bins, Profile, reference_bins

MAX_CATEGORY_BINS = 200
MAX_UNSEEN_LISTED = 20
HIST_CATEGORIES = 20
_RANK = {"ok": 0, "warn": 1, "drift": 2}


class DriftReport:
    """The result of `drift()`: `.status`, `.columns` (a list of row dicts), `.to_dict()`, `.table()`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def status(self) -> str:
        status: str = self._data["status"]
        return status

    @property
    def columns(self) -> list[dict[str, Any]]:
        cols: list[dict[str, Any]] = self._data["columns"]
        return cols

    @property
    def drifted(self) -> list[str]:
        """Names of the columns whose status is drift."""
        return [c["column"] for c in self.columns if c["status"] == "drift"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able report (see the module docstring and /work/helper-14.md for the shape)."""
        return self._data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        return cls(data)

    def table(self) -> Any:
        """The column rows as a pandas DataFrame (without the histograms)."""
        import pandas as pd

        rows = [{k: v for k, v in c.items() if not k.endswith("_hist")} for c in self.columns]
        return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["column", "status"])

    def __repr__(self) -> str:
        return (f"DriftReport(status={self.status!r}, columns={len(self.columns)}, "
                f"drifted={self.drifted[:10]})")


def drift(reference: Profile, current: Profile, columns: Iterable[str] | None = None,
          thresholds: dict[str, Any] | None = None) -> DriftReport:
    """Compare `current` with `reference` column by column (see the module docstring)."""
    if not isinstance(reference, Profile) or not isinstance(current, Profile):
        raise InvalidValueError("drift() compares two Profiles: build them with build_profile(data)")
    if reference.rows == 0:
        raise InvalidValueError("the reference profile has no rows: profile the data the model was trained on")
    if current.rows == 0:
        raise InvalidValueError("the current data has no rows: there is nothing to compare")
    effective, used = cal.settings(thresholds)
    names = _names(reference, current, columns)
    added = [c for c in current.columns if c not in reference.columns and c in names]
    removed = [c for c in reference.columns if c not in current.columns and c in names]
    retyped = []
    rows: list[dict[str, Any]] = []
    for name in names:
        ref = reference.columns.get(name)
        cur = current.columns.get(name)
        if ref is None:
            continue
        opts = cal.for_column(effective, used, name)
        if cur is None:
            rows.append(_schema_row(name, ref, None, reference.rows, current.rows, "column removed"))
            continue
        if ref["kind"] != cur["kind"] or ref["dtype"] != cur["dtype"]:
            retyped.append({"column": name, "reference": _type(ref), "current": _type(cur)})
        if ref["kind"] != cur["kind"]:
            rows.append(_schema_row(name, ref, cur, reference.rows, current.rows, "kind changed"))
            continue
        if ref["kind"] in NUMERIC_KINDS:
            row = _numeric_row(name, ref, cur, reference.rows, current.rows, opts)
        else:
            row = _categorical_row(name, ref, cur, reference.rows, current.rows, opts)
        if _family(ref["dtype"]) != _family(cur["dtype"]) and row["status"] == "ok":
            row["status"] = "warn"  # int -> float and the like; int32 -> int64 is not worth a warning
        rows.append(row)
    _adjust_ks(rows)
    status = max((r["status"] for r in rows), key=_RANK.__getitem__, default="ok")
    return DriftReport({
        "status": status, "rows_reference": reference.rows, "rows_current": current.rows,
        "schema": {"added": added, "removed": removed, "retyped": retyped},
        "columns": rows, "method": cal.describe(effective), "thresholds": used,
    })


def _names(reference: Profile, current: Profile, columns: Iterable[str] | None) -> list[str]:
    every = list(reference.columns) + [c for c in current.columns if c not in reference.columns]
    if columns is None:
        return every
    wanted = [columns] if isinstance(columns, str) else [str(c) for c in columns]
    for c in wanted:
        if c not in reference.columns and c not in current.columns:
            raise InvalidValueError(f"no column {c!r} in the reference or the current data: columns are {every[:20]}", field="columns")
    return wanted


def _family(dtype: str) -> str:
    d = dtype.lower()
    for family in ("uint", "int", "float", "double", "datetime", "timedelta"):
        if d.startswith(family):
            return {"uint": "int", "double": "float"}.get(family, family)
    return d


def _type(col: Mapping[str, Any]) -> str:
    return f"{col['kind']} ({col['dtype']})"


def _missing(col: Mapping[str, Any], rows: int) -> float:
    return (col["nulls"] + col.get("nans", 0)) / rows if rows else 0.0


def _empty_row(name: str, ref: Mapping[str, Any], rows_ref: int) -> dict[str, Any]:
    return {"column": name, "kind": ref["kind"], "status": "ok", "statistic": "psi", "score": None,
            "warn_at": None, "drift_at": None, "psi": None, "js": None, "wasserstein": None, "ks": None,
            "ks_p": None, "ks_p_adjusted": None, "chi2": None, "missing_reference": _missing(ref, rows_ref),
            "missing_current": None, "unseen_categories": [], "unseen_share": None,
            "reference_hist": None, "current_hist": None, "detail": ""}


def _schema_row(name: str, ref: Mapping[str, Any], cur: Mapping[str, Any] | None, rows_ref: int,
                rows_cur: int, detail: str) -> dict[str, Any]:
    row = _empty_row(name, ref, rows_ref)
    row.update(status="drift", statistic="schema", detail=detail)
    if cur is not None:
        row["missing_current"] = _missing(cur, rows_cur)
    return row


def _status(score: float, warn_at: float, drift_at: float) -> str:
    return "drift" if score > drift_at else "warn" if score > warn_at else "ok"


def _worst(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


# ---- numbers ------------------------------------------------------------------------------------

def _numeric_row(name: str, ref: dict[str, Any], cur: dict[str, Any], rows_ref: int, rows_cur: int,
                 opts: dict[str, Any]) -> dict[str, Any]:
    row = _empty_row(name, ref, rows_ref)
    bins = reference_bins(ref, int(opts["bins"]), like=cur)
    hist_r = bins.counts(ref)
    hist_c = bins.counts(cur)
    # the missing bin: a column turning null is drift too
    r = np.append(hist_r, ref["nulls"] + ref["nans"])
    c = np.append(hist_c, cur["nulls"] + cur["nans"])
    score = float(cal.psi(r, c))
    warn_at, drift_at = cal.thresholds_for(r, rows_cur, opts)
    lo = _pick_min(ref["min"], cur["min"])
    hi = _pick_max(ref["max"], cur["max"])
    edges = [lo, *bins.edges, hi] if lo is not None else list(bins.edges)
    ks, ks_p, w = _ks_wasserstein(ref, cur, bins)
    row.update(status=_status(score, warn_at, drift_at), score=score, warn_at=warn_at, drift_at=drift_at,
               psi=score, js=cal.js_distance(r, c), wasserstein=w, ks=ks, ks_p=ks_p,
               missing_current=_missing(cur, rows_cur),
               reference_hist={"edges": edges, "counts": hist_r.tolist(), "missing": int(r[-1])},
               current_hist={"edges": edges, "counts": hist_c.tolist(), "missing": int(c[-1])})
    return row


def _pick_min(a: Any, b: Any) -> Any:
    vals = [v for v in (a, b) if v is not None]
    return float(min(vals)) if vals else None


def _pick_max(a: Any, b: Any) -> Any:
    vals = [v for v in (a, b) if v is not None]
    return float(max(vals)) if vals else None


def _ks_wasserstein(ref: Mapping[str, Any], cur: Mapping[str, Any],
                    bins: Bins) -> tuple[float | None, float | None, float | None]:
    """(KS statistic, its asymptotic p-value, W1 / reference std) from the two sketches (the one
    the bins were cut from)."""
    kr, nr, _ = bins.support(ref)
    kc, nc, _ = bins.support(cur)
    if nr.sum() == 0 or nc.sum() == 0:
        return None, None, None
    keys = np.union1d(kr, kc)
    fr = np.zeros(keys.size)
    fc = np.zeros(keys.size)
    fr[np.searchsorted(keys, kr)] = nr
    fc[np.searchsorted(keys, kc)] = nc
    n_r, n_c = fr.sum(), fc.sum()
    cdf_r = np.cumsum(fr) / n_r
    cdf_c = np.cumsum(fc) / n_c
    diff = np.abs(cdf_r - cdf_c)
    ks = float(diff.max())
    n_eff = n_r * n_c / (n_r + n_c)
    ks_p = _kolmogorov_p(ks, n_eff)
    x = _mids_of(keys, bins)
    w1 = float((diff[:-1] * np.diff(x)).sum())
    std = _std(ref)
    w = w1 / std if std and std > 0 else None
    return ks, ks_p, w


def _mids_of(keys: np.ndarray, bins: Bins) -> np.ndarray:
    if bins.exp is None:
        return sk.bucket_values(keys)
    out: np.ndarray = (keys + 0.5).astype(np.float64) * 2.0**bins.exp
    return out


def _std(col: Mapping[str, Any]) -> float | None:
    n = col["count"]
    if not n or col["sum"] is None or col["sum_sq"] is None:
        return None
    mean = col["sum"] / n
    var = max(col["sum_sq"] / n - mean * mean, 0.0)
    # a variance lost to rounding (huge offsets) falls back to the spread of the sketch's quantiles
    if var <= 1e-12 * max(mean * mean, 1e-300):
        return None
    return math.sqrt(var)


def _kolmogorov_p(d: float, n_eff: float) -> float:
    """P(D > d) for the two-sample KS statistic, asymptotic (Stephens' small-sample correction)."""
    if d <= 0:
        return 1.0
    s = math.sqrt(n_eff)
    lam = (s + 0.12 + 0.11 / s) * d
    if lam < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-300:
            break
    return min(1.0, max(0.0, total))


def _adjust_ks(rows: list[dict[str, Any]]) -> None:
    """Benjamini-Hochberg adjusted KS p-values over the report's columns."""
    have = [r for r in rows if r["ks_p"] is not None]
    m = len(have)
    if not m:
        return
    order = sorted(range(m), key=lambda i: have[i]["ks_p"])
    running = 1.0
    for rank in range(m, 0, -1):
        row = have[order[rank - 1]]
        running = min(running, row["ks_p"] * m / rank)
        row["ks_p_adjusted"] = min(1.0, running)


# ---- categories ---------------------------------------------------------------------------------

def _categorical_row(name: str, ref: dict[str, Any], cur: dict[str, Any], rows_ref: int, rows_cur: int,
                     opts: dict[str, Any]) -> dict[str, Any]:
    row = _empty_row(name, ref, rows_ref)
    labels = list(ref["counts"])[:MAX_CATEGORY_BINS]  # stored most frequent first
    r = _category_hist(ref, labels)
    c = _category_hist(cur, labels)
    score = float(cal.psi(r, c))
    warn_at, drift_at = cal.thresholds_for(r, rows_cur, opts)
    status = _status(score, warn_at, drift_at)
    unseen, unseen_n = unseen_values(ref, cur)
    unseen_share = unseen_n / cur["count"] if cur["count"] else 0.0
    expected = good_turing(ref)
    if ref["overflow"] is None and unseen_n:
        if unseen_share > opts["unseen_drift"] + 2 * expected:
            status = "drift"
        elif unseen_share > opts["unseen_warn"] + 2 * expected:
            status = _worst(status, "warn")
    shown = labels[:HIST_CATEGORIES]
    row.update(status=status, score=score, warn_at=warn_at, drift_at=drift_at, psi=score,
               js=cal.js_distance(r, c), chi2=_chi2(r, c), missing_current=_missing(cur, rows_cur),
               unseen_categories=unseen[:MAX_UNSEEN_LISTED], unseen_share=unseen_share,
               reference_hist=_shown_hist(ref, shown), current_hist=_shown_hist(cur, shown))
    return row


def _category_hist(col: Mapping[str, Any], labels: list[str]) -> np.ndarray:
    counts = col["counts"]
    known = [counts.get(t, 0) for t in labels]
    other = col["count"] - sum(known)
    return np.asarray([*known, other, col["nulls"]], dtype=np.int64)


def _shown_hist(col: Mapping[str, Any], shown: list[str]) -> dict[str, Any]:
    counts = [int(col["counts"].get(t, 0)) for t in shown]
    return {"categories": [*shown, "(other)"], "counts": [*counts, int(col["count"] - sum(counts))],
            "missing": int(col["nulls"])}


def unseen_values(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> tuple[list[str], int]:
    """Current values the reference never had (most frequent first) and their total count.

    When the reference's counts were capped, a value is known unseen if its hash is below the
    capped range's largest kept hash (it would have been kept) or its overflow bucket is empty.
    """
    known = ref["counts"]
    over = ref["overflow"]
    limit = sk.hash_threshold(known) if over is not None else 0
    names: list[str] = []
    total = 0
    for text, n in cur["counts"].items():
        if text in known:
            continue
        if over is not None:
            h = sk.value_hash(text)
            if h > limit and over["counts"][h % over["buckets"]]:
                continue  # maybe among the reference's overflow: not provably unseen
        names.append(text)
        total += n
    # values in the current's own hashed overflow are not listed (the "other" bin's PSI sees them)
    return names, total


def good_turing(ref: Mapping[str, Any]) -> float:
    """Expected share of a new sample falling on values the reference never had (singletons / n)."""
    if not ref["count"]:
        return 1.0
    singletons = sum(1 for n in ref["counts"].values() if n == 1)
    return float(singletons / ref["count"])


def _chi2(r: np.ndarray, c: np.ndarray) -> float:
    keep = (r + c) > 0
    r = r[keep].astype(np.float64)
    c = c[keep].astype(np.float64)
    n_r, n_c = r.sum(), c.sum()
    if not n_r or not n_c or r.size < 2:
        return 0.0
    tot = r + c
    e_r = tot * n_r / (n_r + n_c)
    e_c = tot * n_c / (n_r + n_c)
    return float(((r - e_r) ** 2 / e_r).sum() + ((c - e_c) ** 2 / e_c).sum())
