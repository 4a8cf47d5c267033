"""Counts shared by the NWWZ table and the employment rate, audited across the two tables.

Working residents aged 20-64 per age band are published twice: as the employment rate's
Flemish Region cell (sex T) and as the NWWZ table's labour force minus NWWZ for that age
band (equal counts, measured). NWWZ's working residents by sex and its 15-19 band (which
holds only 18-19 year olds) are the region's working residents 20-64 plus those aged 18-19,
so the two tables together also reveal working residents aged 18-19 per sex and, against
the employment rate's 15-19 cells, those aged 15-17. The tables are protected apart; this
module audits each quarter's NWWZ pattern with everything the employment rate publishes
about these counts, and with those derived groups as protected counts of their own.

A published region count is a constant to the intruder. For an age band whose region counts
the employment rate suppresses, that band's whole employment-rate + work-shares problem joins
the audit, so NWWZ cannot give away what the employment rate hides either. A quarter whose
NWWZ pattern fails this audit is published with its NWWZ table wholly suppressed (the caller
does that): then NWWZ adds nothing and the employment rate stands as audited alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from disclosure.protect import TOL, CellProblem, cost_vector
from disclosure.rules import RuleParams, apply_rules, required_protection
from sdwh.publish.indicators import Indicator, indicator
from sdwh.publish.protection import Block, GeoParents, build_joint_problem, witness_audit

#: the employment rate and the work shares publish the same working residents 20-64
LINKS = (("employment_rate", "EMPLOYED", "work_shares", "WORKING", ("sex_code", "geo_refnis")),)

REGION = "02000"
YOUNGEST = "15-19"  # NWWZ counts only 18-19 year olds in it (NWWZ population 18-64)


def linked_exposure(problem: CellProblem, index: pd.DataFrame, nwwz: pd.DataFrame,
                    suppressed: np.ndarray, region: pd.DataFrame, region_suppressed: np.ndarray,
                    params: RuleParams, band_problems: dict[str, Part] | None = None,
                    hidden_known: bool = True) -> str | None:
    """Why this quarter's NWWZ pattern is unsafe next to the employment rate, or None.

    ``problem``/``index``: the NWWZ table's problem (``build_joint_problem``); ``nwwz``: its
    cells; ``suppressed``: its pattern per variable; ``region``: the employment rate's region
    cells of the same quarter (sex M, F, T × age band, ``numerator`` = working residents);
    ``region_suppressed``: their pattern. A published region count is a constant to the
    intruder; for an age band with a suppressed one, ``band_problems[band]`` is that band's
    employment-rate problem with its pattern, and the audit runs on both tables at once.
    A suppressed region count without its band's problem is taken as known
    (``hidden_known``: conservative, an unproven bound counts as exposure) or as unknown
    and unrelated (the intruder knows at least that much, so an exposure found is real;
    proven by exact LPs).
    """
    if suppressed.all():
        return None  # publishes nothing
    working = {(r.sex_code, r.age_band): float(r.numerator)
               for r in region.itertuples(index=False)}
    hidden = {(r.sex_code, r.age_band) for r, s in zip(region.itertuples(index=False),
                                                        region_suppressed, strict=True) if s}
    bands = sorted({b for _, b in working})
    var = {(t, b, c): k for k, (t, b, c) in enumerate(zip(
        index["table"], nwwz["breakdown"].to_numpy()[index["cell"]],
        nwwz["category"].to_numpy()[index["cell"]], strict=True))}
    w_band = {b: var.get(("WORKING", "age_band", b)) for b in bands}
    w_sex = {s: var.get(("WORKING", "sex", s)) for s in ("M", "F")}
    if None in w_band.values() or None in w_sex.values() or YOUNGEST not in bands:
        return None  # not the breakdowns this link is about: nothing shared
    parts = [Part(problem, suppressed)]
    offset = {}
    n_vars = len(problem.values)
    band_problems = band_problems or {}
    free = set() if hidden_known else {(s, b) for s, b in hidden if b not in band_problems}
    hidden = {(s, b) for s, b in hidden if b in band_problems}
    for band in sorted({b for _, b in hidden}):
        offset[band] = n_vars
        parts.append(band_problems[band])
        n_vars += len(band_problems[band].problem.values)
    joint = _Builder(parts)

    def region_count(sex: str, band: str) -> tuple[int, float]:
        """(variable, coefficient sign) of a region count: its ER variable or a constant."""
        if (sex, band) in hidden:
            return offset[band] + band_problems[band].variable[(sex, band)], 1.0
        if (sex, band) in free:
            return joint.unknown((sex, band), working[(sex, band)]), 1.0
        return joint.constant(working[(sex, band)]), 1.0

    adult = [b for b in bands if b != YOUNGEST]
    young = {s: joint.derived(problem.values[w_sex[s]] - sum(working[(s, b)] for b in adult))
             for s in ("M", "F")}
    child = {s: joint.derived(working[(s, YOUNGEST)] - joint.values[young[s]])
             for s in ("M", "F")}
    child["T"] = joint.derived(working[("T", YOUNGEST)] - problem.values[w_band[YOUNGEST]])
    for b in adult:  # NWWZ working per band = the region's working residents
        joint.relation([(w_band[b], 1.0), (region_count("T", b)[0], -1.0)])
    for s in ("M", "F"):
        joint.relation([(w_sex[s], 1.0), (young[s], -1.0),
                        *[(region_count(s, b)[0], -1.0) for b in adult]])
        joint.relation([(young[s], 1.0), (child[s], 1.0),
                        (region_count(s, YOUNGEST)[0], -1.0)])
    joint.relation([(w_band[YOUNGEST], 1.0), (young["M"], -1.0), (young["F"], -1.0)])
    joint.relation([(w_band[YOUNGEST], 1.0), (child["T"], 1.0),
                    (region_count("T", YOUNGEST)[0], -1.0)])
    if (np.asarray(joint.values[joint.first_derived:joint.first_derived + 5]) < 0).any():
        return None  # the counts are not nested as assumed: no such link in this data
    whole, mask = joint.build(params)
    # with every count the intruder may know, witnessed bounds suffice (unproven counts as
    # exposed); with only what they surely know, exact bounds (an exposure must be real)
    hi = witness_audit(whole, mask, exact=not hidden_known)
    weak = np.flatnonzero(whole.primary & (hi < whole.values + whole.upper - TOL))
    if not len(weak):
        return None
    k = int(weak[0])
    names = ["working residents aged 18-19 (M)", "working residents aged 18-19 (F)",
             "working residents aged 15-17 (M)", "working residents aged 15-17 (F)",
             "working residents aged 15-17 (T)"]
    if k >= joint.first_derived:
        what = names[k - joint.first_derived]
    elif k < len(problem.values):
        cell = int(index["cell"].iloc[k])
        what = (f"NWWZ's {index['table'].iloc[k]} of {nwwz['breakdown'].iloc[cell]} "
                f"{nwwz['category'].iloc[cell]}")
    else:
        what = "a protected cell of the employment rate"
    return (f"with both tables' published cells, {what} ({whole.values[k]:g}) is known to be "
            f"at most {hi[k]:g}, below {whole.values[k] + whole.upper[k]:g}")


@dataclass
class Part:
    """A protected problem with its pattern; ``variable``: (sex, band) -> its region count."""

    problem: CellProblem
    suppressed: np.ndarray
    variable: dict[tuple[str, str], int] = field(default_factory=dict)


class _Builder:
    """Block-diagonal union of problems, plus derived counts, constants and link relations."""

    def __init__(self, parts: list[Part]):
        self.parts = parts
        self.values: list[float] = [float(v) for p in parts for v in p.problem.values]
        self.mask: list[bool] = [bool(m) for p in parts for m in p.suppressed]
        self.first_derived = len(self.values)
        self.n_derived = 0
        self.constants: dict[float, int] = {}
        self.unknowns: dict[tuple[str, str], int] = {}
        self.rows: list[list[tuple[int, float]]] = []

    def derived(self, value: float) -> int:
        """A count of persons the two tables define together: protected, never published."""
        assert not self.constants, "derived counts come before constants"
        self.values.append(float(value))
        self.mask.append(True)
        self.n_derived += 1
        return len(self.values) - 1

    def constant(self, value: float) -> int:
        """A published count of the other table: a published variable holding it."""
        if value not in self.constants:
            self.values.append(float(value))
            self.mask.append(False)
            self.constants[value] = len(self.values) - 1
        return self.constants[value]

    def unknown(self, key: tuple[str, str], value: float) -> int:
        """A count the intruder does not know (suppressed elsewhere): neither fixed nor audited."""
        if key not in self.unknowns:
            self.values.append(float(value))
            self.mask.append(True)
            self.unknowns[key] = len(self.values) - 1
        return self.unknowns[key]

    def relation(self, members: list[tuple[int, float]]) -> None:
        self.rows.append(members)

    def build(self, params: RuleParams) -> tuple[CellProblem, np.ndarray]:
        values = np.asarray(self.values)
        total = len(values)
        blocks = [p.problem.A for p in self.parts]
        inner = sparse.block_diag(blocks, format="csr") if blocks else None
        r = [i for i, row in enumerate(self.rows) for _ in row]
        c = [col for row in self.rows for col, _ in row]
        v = [coef for row in self.rows for _, coef in row]
        links = sparse.csr_matrix((v, (r, c)), shape=(len(self.rows), total))
        holds = np.abs(links @ values) <= 1e-6  # a relation the data break is no link
        A = sparse.vstack([sparse.hstack([inner, sparse.csr_matrix(
            (inner.shape[0], total - inner.shape[1]))]), links[holds]]).tocsr()
        derived = values[self.first_derived:self.first_derived + self.n_derived]
        stats = pd.DataFrame({"n_units": derived.astype(np.int64), "total": derived,
                              "top": [[]] * len(derived), "n_negative": 0,
                              "structural_zero": False})
        checked = apply_rules(stats, params, magnitude=False)
        d_primary = (checked["status"] != "pass").to_numpy()
        d_upper = np.where(d_primary, required_protection(checked, params, magnitude=False),
                           0.0)
        pad = total - self.first_derived - self.n_derived
        primary = np.concatenate([*[p.problem.primary for p in self.parts], d_primary,
                                  np.zeros(pad, bool)])
        upper = np.concatenate([*[p.problem.upper for p in self.parts], d_upper,
                                np.zeros(pad)])
        problem = CellProblem(values=values, A=A, primary=primary, upper=upper,
                              lower=np.zeros(total), cost=cost_vector(values, "value"))
        return problem, np.asarray(self.mask)


#: largest joint problem (suppressed variables) audited with the employment rate's bands
MAX_JOINT_SUPPRESSED = 10_000


def exposed_nwwz_tables(frames: dict[str, pd.DataFrame], suppressed: dict[str, np.ndarray],
                        geo: GeoParents, params: RuleParams
                        ) -> tuple[dict[str, str], dict[str, str]]:
    """Per quarter: why its NWWZ table is exposed, and what could not be audited jointly.

    ``frames``: the release's cells per indicator; ``suppressed``: their patterns per cell.
    A quarter's NWWZ pattern is audited with the published region counts as constants and,
    for age bands whose region counts the employment rate suppresses, with those bands' whole
    problems, when that joint problem has at most ``MAX_JOINT_SUPPRESSED`` suppressed
    variables (a second or less). A larger one (only tiny warehouses, where nearly
    everything is suppressed; 13 s a quarter at 2,000 persons) is not audited jointly: the
    second dict says so, with the verdict of the cheap audit that takes the suppressed
    region counts as known.
    """
    nwwz_ind, er_ind, ws_ind = (indicator(i) for i in ("nwwz", "employment_rate",
                                                       "work_shares"))
    er, ws, nw = frames["employment_rate"], frames["work_shares"], frames["nwwz"]
    exposed: dict[str, str] = {}
    unaudited: dict[str, str] = {}
    for quarter in sorted(set(nw["quarter"])):
        rows = np.flatnonzero((nw["quarter"] == quarter).to_numpy())
        cells = nw.iloc[rows].reset_index(drop=True)
        problem, index = build_joint_problem([Block(nwwz_ind, cells)], geo, params)
        mask = suppressed["nwwz"][rows][index["cell"].to_numpy()]
        at = np.flatnonzero(((er["quarter"] == quarter) & (er["geo_refnis"] == REGION))
                            .to_numpy())
        region = er.iloc[at]
        region_mask = suppressed["employment_rate"][at]
        hidden_bands = sorted(set(region.loc[region_mask, "age_band"]))
        bands = {}
        if hidden_bands and not mask.all():
            bands = {b: _band_part(er_ind, ws_ind, er, ws, suppressed, str(quarter), b, geo,
                                   params) for b in hidden_bands}
            size = int(mask.sum()) + sum(int(p.suppressed.sum()) for p in bands.values())
            if size > MAX_JOINT_SUPPRESSED:
                real = linked_exposure(problem, index, cells, mask, region, region_mask,
                                       params, hidden_known=False)
                if real:
                    exposed[str(quarter)] = real
                    continue
                known = linked_exposure(problem, index, cells, mask, region, region_mask,
                                        params)
                unaudited[str(quarter)] = (
                    f"not audited jointly: the employment rate suppresses region counts of "
                    f"{len(hidden_bands)} age band(s), and the joint problem ({size} "
                    f"suppressed variables) exceeds {MAX_JOINT_SUPPRESSED}; no exposure with "
                    "those counts unknown; with them known, "
                    + (known or "the NWWZ pattern holds too"))
                continue
        reason = linked_exposure(problem, index, cells, mask, region, region_mask, params,
                                 bands)
        if reason:
            exposed[str(quarter)] = reason
    return exposed, unaudited


def _band_part(er_ind: Indicator, ws_ind: Indicator, er: pd.DataFrame, ws: pd.DataFrame,
               suppressed: dict[str, np.ndarray], quarter: str, band: str, geo: GeoParents,
               params: RuleParams) -> Part:
    """The employment rate + work shares problem of one quarter × age band, with its pattern."""
    blocks, masks = [], []
    for ind, frame in ((er_ind, er), (ws_ind, ws)):
        sel = np.flatnonzero(((frame["quarter"] == quarter) & (frame["age_band"] == band))
                             .to_numpy())
        if len(sel):
            blocks.append(Block(ind, frame.iloc[sel].reset_index(drop=True)))
            masks.append(suppressed[ind.id][sel])
    problem, index = build_joint_problem(blocks, geo, params, LINKS)
    pattern = np.zeros(len(problem.values), dtype=bool)
    for block, m in zip(blocks, masks, strict=True):
        mine = (index["indicator"] == block.indicator.id).to_numpy()
        pattern[mine] = m[index.loc[mine, "cell"].to_numpy()]
    cells = blocks[0].cells
    variable = {}
    for sex in ("M", "F", "T"):
        hit = np.flatnonzero(((cells["sex_code"] == sex) & (cells["geo_refnis"] == REGION))
                             .to_numpy())
        k = np.flatnonzero(((index["indicator"] == "employment_rate")
                            & (index["table"] == "EMPLOYED")
                            & (index["cell"] == hit[0])).to_numpy())
        variable[(sex, band)] = int(k[0])
    return Part(problem, pattern, variable)
