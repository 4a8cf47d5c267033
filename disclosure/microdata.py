"""Microdata re-identification risk with sdcMicro 5.8.1 semantics (formulas in docs/disclosure.md).

Everything is vectorised over integer key codes, so 1e6 records × 5 keys take well under a
second; sdcMicro's R/C++ code is the reference and its quirks are reproduced where its numbers
are the contract (noted inline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from disclosure._frame import encode_keys, group_ids, require_columns, to_pandas
from sdwh.errors import SdwhError


class Frequencies(BaseModel):
    """Per-record sample frequency ``fk`` and estimated population frequency ``Fk``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    fk: np.ndarray
    Fk: np.ndarray

    def violations(self, k: int) -> int:
        """Number of records whose key combination occurs fewer than ``k`` times."""
        return int((self.fk < k).sum())


class RiskResult(BaseModel):
    """Output of :func:`measure_risk` (names follow sdcMicro's ``measure_risk`` list)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    risk: np.ndarray
    fk: np.ndarray
    Fk: np.ndarray
    global_risk_ER: float
    global_risk: float
    global_risk_pct: float
    hier_risk: np.ndarray | None = None
    hier_risk_ER: float | None = None
    hier_risk_global: float | None = None
    hier_risk_pct: float | None = None

    def summary(self, ks: Sequence[int] = (2, 3, 5)) -> dict[str, Any]:
        """JSON-ready figures a checker reads first: violations per k and expected re-ids."""
        out: dict[str, Any] = {
            "n": len(self.fk),
            "k_anonymity_violations": {str(k): int((self.fk < k).sum()) for k in ks},
            "global_risk_ER": self.global_risk_ER,
            "global_risk": self.global_risk,
            "global_risk_pct": self.global_risk_pct,
            "max_individual_risk": float(self.risk.max()) if len(self.risk) else 0.0,
        }
        if self.hier_risk_ER is not None:
            out |= {"hier_risk_ER": self.hier_risk_ER, "hier_risk": self.hier_risk_global,
                    "hier_risk_pct": self.hier_risk_pct}
        return out


def _weights(df: pd.DataFrame, weight: str | None) -> np.ndarray:
    if weight is None:
        return np.ones(len(df))
    require_columns(df, [weight])
    w = pd.to_numeric(df[weight], errors="coerce").to_numpy(dtype=float)
    if np.isnan(w).any() or (w <= 0).any():
        raise SdwhError(f"Weight column {weight} has missing or non-positive values.",
                        "Sampling weights must be positive numbers for every record.")
    return w


def freq_calc(data: Any, keys: Sequence[str], weight: str | None = None,
              alpha: float = 1.0) -> Frequencies:
    """sdcMicro ``freqCalc``: fk = size of the record's key group, Fk = sum of its weights.

    A missing key value is a wildcard matching every category; matches that involve a
    record with missing keys count with factor ``alpha`` (sdcMicro's rule, applied the same
    asymmetric way: a complete group adds its full count to a wildcard group).
    """
    if not 0 <= alpha <= 1:
        raise SdwhError("alpha must lie in [0, 1].", "Use alpha=1 for sdcMicro's default.")
    df = to_pandas(data)
    require_columns(df, keys)
    codes = encode_keys(df, keys)
    w = _weights(df, weight)
    return _freq_from_codes(codes, w, alpha)


def _freq_from_codes(codes: np.ndarray, w: np.ndarray, alpha: float) -> Frequencies:
    missing = codes < 0
    has_na = missing.any(axis=1)
    if not has_na.any():
        gid, ng = group_ids(codes)
        fk = np.bincount(gid, minlength=ng).astype(float)[gid]
        Fk = np.bincount(gid, weights=w, minlength=ng)[gid]
        return Frequencies(fk=fk, Fk=Fk)
    return _freq_with_wildcards(codes, w, alpha, has_na)


def _freq_with_wildcards(codes: np.ndarray, w: np.ndarray, alpha: float,
                         has_na: np.ndarray) -> Frequencies:
    """fk/Fk when some keys are missing: exact port of sdcMicro's group-level loop."""
    shifted = codes + 1  # 0 = missing, so one group id covers complete and wildcard rows
    gid, ng = group_ids(shifted)
    cnt = np.bincount(gid, minlength=ng).astype(float)
    wsum = np.bincount(gid, weights=w, minlength=ng)
    rep = np.zeros(ng, dtype=np.int64)
    rep[gid] = np.arange(len(gid))
    gkeys = codes[rep]
    g_na = (gkeys < 0).any(axis=1)
    complete = np.flatnonzero(~g_na)
    wild = np.flatnonzero(g_na)
    add_f = np.zeros(ng)
    add_F = np.zeros(ng)
    for i in wild:
        known = gkeys[i] >= 0
        if not known.any():
            continue  # all-missing keys are handled below (fk = n)
        eq_c = (gkeys[complete][:, known] == gkeys[i, known]).all(axis=1)
        match_c = complete[eq_c]
        wk = gkeys[wild][:, known]
        eq_w = ((wk == gkeys[i, known]) | (wk < 0)).all(axis=1)
        match_w = wild[eq_w & (wild != i)]
        add_f[i] += alpha * cnt[match_w].sum() + cnt[match_c].sum()
        add_F[i] += alpha * wsum[match_w].sum() + wsum[match_c].sum()
        add_f[match_c] += alpha * cnt[i]
        add_F[match_c] += alpha * wsum[i]
    fk = (cnt + add_f)[gid]
    Fk = (wsum + add_F)[gid]
    all_na = (codes < 0).all(axis=1)
    fk[all_na] = len(codes)
    Fk[all_na] = w.sum()
    return Frequencies(fk=fk, Fk=Fk)


def indiv_risk(freq: Frequencies, method: str = "approx", qual: float = 1.0,
               survey: bool = True) -> np.ndarray:
    """Benedetti–Franconi individual risk (sdcMicro ``indivRisk``), one value per record.

    With p = fk/Fk: f=1 → p/(1−p)·log(1/p); f=2 → p/(1−p) − (p/(1−p))²·log(1/p);
    f>2 → p/(f−(1−p)) ("approx") or the exact series; records with fk = Fk get 1/fk.
    Without sampling (``survey=False``) the risk is 1/fk.
    """
    fk, Fk = freq.fk.astype(float), freq.Fk.astype(float)
    if not survey:
        return 1.0 / fk
    if method not in ("approx", "exact"):
        raise SdwhError(f"Unknown individual-risk method {method!r}.", "Use approx or exact.")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = fk / Fk
        odds = p / (1 - p)
        r = np.zeros_like(fk)
        one, two, more = fk == 1, fk == 2, fk > 2
        r[one] = odds[one] * np.log(1 / p[one])
        r[two] = odds[two] - odds[two] ** 2 * np.log(1 / p[two])
        if method == "approx":
            r[more] = p[more] / (fk[more] - (1 - p[more]))
        else:
            r[more] = [_exact_risk(int(f), q) for f, q in zip(fk[more], p[more], strict=True)]
    same = fk == Fk
    r[same] = 1.0 / fk[same]
    return r * qual


def _exact_risk(f: int, p: float) -> float:
    """Exact negative-binomial risk for f > 2 (Franconi & Polettini 2004, as in sdcMicro)."""
    a = (p ** (1 - f) - 1) / (f - 1)

    def b(j: int) -> float:
        return ((f - 1 - j) ** 2 / ((j + 1) * (f - 2 - j))
                * (p ** (j + 2 - f) - 1) / (p ** (j + 1 - f) - 1))

    bb = 0.0
    for m in range(f - 2):
        prod = math.prod(b(m2) for m2 in range(m + 1))
        bb += (-1) ** (m + 1) * prod
    return (p / (1 - p)) ** f * (a * (1 + bb) + (-1) ** f * math.log(p))


def measure_risk(data: Any, keys: Sequence[str], weight: str | None = None,
                 household: str | None = None, alpha: float = 1.0) -> RiskResult:
    """sdcMicro ``measure_risk``: individual, global (ER = Σ r) and household risk.

    Household risk is 1 − Π(1 − r_i) over the members of each household (sdcMicro's
    ``fast_hier``), reported per record; its ER is the sum over records.
    """
    df = to_pandas(data)
    freq = freq_calc(df, keys, weight, alpha)
    risk = indiv_risk(freq, survey=weight is not None)
    er = float(np.nansum(risk))
    n = len(risk)
    result = RiskResult(risk=risk, fk=freq.fk, Fk=freq.Fk, global_risk_ER=er,
                        global_risk=er / n, global_risk_pct=100 * er / n)
    if household is not None:
        require_columns(df, [household])
        hid, nh = group_ids(encode_keys(df, [household]))
        log_safe = np.bincount(hid, weights=np.log1p(-np.minimum(risk, 1.0)), minlength=nh)
        hier = (1 - np.exp(log_safe))[hid]
        hier_er = float(hier.sum())
        result.hier_risk, result.hier_risk_ER = hier, hier_er
        result.hier_risk_global, result.hier_risk_pct = hier_er / n, 100 * hier_er / n
    return result


def kanon_violations(data: Any, keys: Sequence[str], ks: Sequence[int] = (2, 3, 5),
                     weight: str | None = None) -> dict[int, int]:
    """Records violating k-anonymity (fk < k) for each k, as sdcMicro prints them."""
    freq = freq_calc(data, keys, weight)
    return {k: freq.violations(k) for k in ks}


# ---------------------------------------------------------------- SUDA2


class SudaResult(BaseModel):
    """SUDA2 scores per record plus per-variable contributions (sdcMicro ``suda2``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    score: np.ndarray
    dis_score: np.ndarray
    contribution: pd.DataFrame
    attribute_contributions: dict[str, float]


def _sdcmicro_hash(codes: np.ndarray) -> np.ndarray:
    """sdcMicro's 16-bit rolling hash of a record's key values (used to count uniques)."""
    h = np.zeros(len(codes), dtype=np.int64)
    for j in range(codes.shape[1]):
        carry = (h & 0x8000) != 0
        h = ((h << 1) & 0xFFFF) + codes[:, j]
        h = (h + carry) & 0xFFFF
    return h


def suda2(data: Any, keys: Sequence[str], dis_fraction: float = 0.01,
          original_scores: bool = True, missing: int = -999) -> SudaResult:
    """SUDA2 (Elliot et al.; Manning et al. 2008) with sdcMicro's scores and DIS-SUDA.

    A minimal sample unique (MSU) of a record is a key subset on which the record is unique
    while no smaller subset is. An MSU of size s (of M keys) adds (M−s)! to the score
    (``original_scores=True``) or the IHSN weight otherwise. DIS-SUDA rescales scores so they
    sum to the estimated number of population uniques given the sampling fraction. As in
    sdcMicro, fewer than three keys are padded with constant dummy keys, missing values are
    one more category (coded ``missing``), and sample uniques for DIS are counted as records
    alone in sdcMicro's 16-bit hash bucket (this reproduces its DIS scores exactly).
    """
    df = to_pandas(data)
    require_columns(df, keys)
    vals = np.column_stack([_suda_values(df[k], missing) for k in keys])
    m_real = len(keys)
    if m_real < 3:
        vals = np.column_stack([vals, np.ones((len(df), 3 - m_real), dtype=np.int64)])
    m = vals.shape[1]
    codes = encode_keys(pd.DataFrame(vals), list(range(m)))
    weights = _suda_weights(m, original_scores)
    score, contrib = _msu_scores(codes, weights)
    dis = _dis_scores(vals, codes, score, m, dis_fraction)
    contrib = contrib[:, :m_real]
    cdf = pd.DataFrame(contrib, columns=[f"{k}_contribution" for k in keys])
    total = score.sum()
    attr = {k: float(100 * (contrib[:, j] * score).sum() / total) if total else 0.0
            for j, k in enumerate(keys)}
    return SudaResult(score=score, dis_score=dis, contribution=cdf, attribute_contributions=attr)


def _suda_values(col: pd.Series, missing: int) -> np.ndarray:
    """Integer values as sdcMicro sees them: numbers as is, factors by level index."""
    if pd.api.types.is_numeric_dtype(col):
        out = col.to_numpy(dtype=float, na_value=np.nan)
    else:
        codes, _ = pd.factorize(col, sort=True)
        out = np.where(codes < 0, np.nan, codes + 1.0)
    return np.where(np.isnan(out), missing, out).astype(np.int64)


def _suda_weights(m: int, original_scores: bool) -> np.ndarray:
    """Score weight per MSU size s = 1..m (index s−1), as in sdcMicro's ``g_ab``."""
    if original_scores:
        return np.array([float(math.factorial(m - s)) for s in range(1, m + 1)])
    fact_m = math.factorial(m)
    return np.array([(2.0 ** (m - s) - 1) * math.factorial(s) * math.factorial(m - s) / fact_m
                     for s in range(1, m + 1)])


def _msu_scores(codes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum of MSU weights per record and per-variable contribution shares."""
    n, m = codes.shape
    unique_on: dict[frozenset[int], np.ndarray] = {}
    score = np.zeros(n)
    contrib = np.zeros((n, m))
    for size in range(1, m + 1):
        for subset in combinations(range(m), size):
            gid, ng = group_ids(codes[:, subset])
            uniq = (np.bincount(gid, minlength=ng) == 1)[gid]
            key = frozenset(subset)
            unique_on[key] = uniq
            minimal = uniq.copy()
            if size > 1:
                for v in subset:
                    minimal &= ~unique_on[key - {v}]
            if minimal.any():
                score[minimal] += weights[size - 1]
                contrib[np.ix_(minimal, list(subset))] += weights[size - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        contrib = np.where(score[:, None] > 0, contrib / score[:, None], 0.0)
    return score, contrib


def _dis_scores(vals: np.ndarray, codes: np.ndarray, score: np.ndarray, m: int,
                dis_fraction: float) -> np.ndarray:
    """DIS-SUDA scores (sdcMicro's float32 arithmetic kept so results agree to 1e-6)."""
    buckets = np.bincount(_sdcmicro_hash(vals), minlength=1 << 16)
    n_unique = int((buckets == 1).sum())
    gid, ng = group_ids(codes)
    sizes = np.bincount(gid, minlength=ng)
    n_pair = 2 * int((sizes == 2).sum())
    frac = np.float32(dis_fraction if dis_fraction != 0 else 0.5)
    dis = np.float32(n_unique * frac) / (
        np.float32(n_unique * frac) + np.float32(n_pair * (np.float32(1) - frac)))
    q = float(np.float32(1) + (np.float32(8) - np.float32(m)) / np.float32(20))
    pos = score > 0
    out = np.zeros(len(score))
    if not pos.any():
        return out
    adj = float((1.0 / score[pos] ** q).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        # no record alone in a hash bucket (large n): C gives 0/0 = NaN, and so do we
        excess = np.float64(n_unique) / np.float64(dis) - n_unique
        out[pos] = 1.0 / (1.0 + excess / (score[pos] ** q * adj))
    return out


# ---------------------------------------------------------------- l-diversity


def ldiversity(data: Any, keys: Sequence[str], sensitive: Sequence[str],
               l_recurs_c: float = 2.0) -> pd.DataFrame:
    """Distinct, entropy and recursive (c,l)-diversity per record (sdcMicro ``ldiversity``).

    Within each key group: distinct = number of sensitive categories (missing counts as one
    more if other values exist), entropy = exp(−Σ p log p), recursive = smallest l such that
    r1 < c·(r_l + … + r_m) no longer holds, computed with sdcMicro's float32 sums.
    """
    df = to_pandas(data)
    require_columns(df, [*keys, *sensitive])
    gid, _ = group_ids(encode_keys(df, keys) + 1)
    out = {}
    for var in sensitive:
        distinct, entropy, recursive = _ldiv_one(gid, df[var], l_recurs_c)
        out[f"{var}_Distinct_Ldiversity"] = distinct
        out[f"{var}_Entropy_Ldiversity"] = entropy
        out[f"{var}_Recursive_Ldiversity"] = recursive
    return pd.DataFrame(out, index=df.index)


def _ldiv_one(gid: np.ndarray, col: pd.Series, c: float) -> tuple[np.ndarray, ...]:
    codes, _ = pd.factorize(col, sort=True)
    frame = pd.DataFrame({"g": gid, "v": codes})
    counts = frame.groupby(["g", "v"], sort=True).size().reset_index(name="n")
    per_group = {}
    for g, sub in counts.groupby("g", sort=False):
        per_group[g] = _ldiv_group(sub["v"].to_numpy(), sub["n"].to_numpy(), c)
    stats = np.array([per_group[g] for g in gid]) if len(gid) else np.zeros((0, 3))
    return stats[:, 0].astype(int), stats[:, 1], stats[:, 2].astype(int)


def _ldiv_group(values: np.ndarray, counts: np.ndarray, c: float) -> tuple[float, float, float]:
    size = counts.sum()
    known = counts[values >= 0]
    n_missing = counts[values < 0].sum()
    distinct = len(known)
    props = known / size
    entropy = float(-(props * np.log(props)).sum())
    if n_missing and distinct:
        distinct += 1
        pm = n_missing / size
        entropy += -pm * math.log(pm)
    if len(known) == 0:
        return 0.0, 1.0, 0.0
    ranked = np.sort(known)[::-1].astype(np.float32)
    recursive = 1
    if len(ranked) > 1:
        cf = np.float32(c)
        total = np.float32(ranked[1:].sum(dtype=np.float32) * cf)
        j = 1
        while j < len(ranked) and total > ranked[0]:
            total = np.float32(total - cf * ranked[j])
            j += 1
        recursive = j
    return float(distinct), math.exp(entropy), float(recursive)


# ---------------------------------------------------------------- protection


def global_recode(data: Any, column: str, breaks: Sequence[float] | None = None,
                  mapping: dict[Any, Any] | None = None) -> pd.DataFrame:
    """Coarsen one key: numeric ``breaks`` → interval labels, or ``mapping`` old → new value.

    Intervals are right-closed like sdcMicro's ``globalRecode(breaks=…)``; unmapped categories
    keep their value so a partial mapping only merges what it names.
    """
    df = to_pandas(data).copy()
    require_columns(df, [column])
    if (breaks is None) == (mapping is None):
        raise SdwhError("Give exactly one of breaks or mapping for global recoding.",
                        "breaks for numeric keys, mapping for categorical keys.")
    if breaks is not None:
        df[column] = pd.cut(df[column], bins=list(breaks), right=True).astype(str)
    else:
        df[column] = df[column].map(lambda v: mapping.get(v, v))
    return df


def local_suppression(data: Any, keys: Sequence[str], k: int = 2,
                      importance: Sequence[int] | None = None,
                      weight: str | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """Set key values to missing until every record has fk ≥ k (wildcard semantics).

    Greedy like sdcMicro's ``localSuppression``: each round suppresses, in every violating
    record, the not-yet-missing key with the lowest priority (highest ``importance`` number;
    default: the key with most categories goes first). Terminates because an all-missing
    record matches every record. Returns the protected frame and suppressions per key.
    """
    df = to_pandas(data).copy()
    require_columns(df, keys)
    codes = encode_keys(df, keys)
    w = _weights(df, weight)
    if importance is None:
        card = [df[key].nunique() for key in keys]
        order = sorted(range(len(keys)), key=lambda j: -card[j])
    else:
        order = sorted(range(len(keys)), key=lambda j: -importance[j])
    while True:
        fk = _freq_from_codes(codes, w, 1.0).fk
        bad = np.flatnonzero(fk < k)
        if len(bad) == 0 or len(df) < k:
            break
        for j in order:
            sel = bad[codes[bad, j] >= 0]
            if len(sel):
                codes[sel, j] = -1
                bad = np.setdiff1d(bad, sel)
            if len(bad) == 0:
                break
    counts = {}
    for j, key in enumerate(keys):
        mask = (codes[:, j] < 0) & df[key].notna().to_numpy()
        counts[key] = int(mask.sum())
        df.loc[mask, key] = None
    return df, counts
