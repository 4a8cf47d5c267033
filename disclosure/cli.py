"""``sdwh disclosure …``: risk, SUDA, table checks and protection from CSV or Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import pandas as pd
import typer

from disclosure.microdata import measure_risk, suda2
from disclosure.protect import METHODS, Method, protect_table
from disclosure.rules import RuleParams, TableSpec
from sdwh.console import console, emit
from sdwh.errors import SdwhError

app = typer.Typer(help="Statistical disclosure control (no data leaves this command).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
JSON = typer.Option(False, "--json", help="Print one JSON object instead of a report.")


def read_input(path: Path) -> pd.DataFrame:
    """CSV or Parquet by extension; a clear error instead of a traceback."""
    if not path.exists():
        raise SdwhError(f"File {path} does not exist.", "Check the path.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as err:  # pandas raises many parser errors
        raise SdwhError(f"Could not read {path}: {err}.",
                        "Give a CSV with a header row or a Parquet file.") from err


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _render(payload: dict[str, Any]) -> None:
    for key, val in payload.items():
        console.print(f"[bold]{key}[/]: {val}")


@app.command()
def risk(file: Path, keys: str = typer.Option(..., help="Key variables, comma separated."),
         weight: str = typer.Option(None, help="Sampling weight column."),
         household: str = typer.Option(None, help="Household id column (household risk)."),
         k: str = typer.Option("2,3,5", help="k values for k-anonymity violation counts."),
         as_json: bool = JSON) -> None:
    """Re-identification risk with sdcMicro 5.8.1 semantics (freqCalc, indivRisk, measure_risk):
    fk/Fk, k-anonymity violations, Benedetti–Franconi individual risk, global and household
    risk."""
    df = read_input(file)
    res = measure_risk(df, _split(keys), weight=weight, household=household)
    ks = [int(x) for x in _split(k)]
    emit({"file": str(file), "keys": _split(keys), **res.summary(ks)}, as_json, _render)


@app.command()
def suda(file: Path, keys: str = typer.Option(..., help="Key variables, comma separated."),
         dis_fraction: float = typer.Option(0.01, help="Sampling fraction for DIS-SUDA."),
         as_json: bool = JSON) -> None:
    """SUDA2 scores and DIS-SUDA with sdcMicro 5.8.1 ``suda2`` semantics (Elliot scores)."""
    df = read_input(file)
    res = suda2(df, _split(keys), dis_fraction=dis_fraction)
    emit({"file": str(file), "records_with_msu": int((res.score > 0).sum()),
          "max_score": float(res.score.max()), "max_dis_score": float(res.dis_score.max()),
          "attribute_contributions": res.attribute_contributions}, as_json, _render)


def _params(rules: str | None, threshold: int) -> RuleParams:
    """``--rules nk=2:0.9,p=0.1,pq=0.2:1,zeros=false`` on top of ACRO's defaults."""
    fields: dict[str, Any] = {"threshold": threshold}
    for item in _split(rules or ""):
        name, _, val = item.partition("=")
        try:
            if name == "nk":
                n, kk = val.split(":")
                fields |= {"nk_n": int(n), "nk_k": float(kk)}
            elif name == "p":
                fields["p_percent"] = float(val)
            elif name == "pq":
                p, q = val.split(":")
                fields["pq"] = (float(p), float(q))
            elif name == "zeros":
                fields["zeros_disclosive"] = val.lower() in ("1", "true", "yes")
            else:
                raise ValueError(name)
        except ValueError as err:
            raise SdwhError(f"Rule {item!r} is not understood.",
                            "Use nk=2:0.9, p=0.1, pq=0.2:1 or zeros=false.") from err
    return RuleParams(**fields)


def _spec(dims: str, hierarchy: str | None) -> TableSpec:
    """``--hierarchy geo=municipality>province>region`` turns one dim into a hierarchy."""
    spec = {d: [d] for d in _split(dims)}
    for item in _split(hierarchy or ""):
        name, _, chain = item.partition("=")
        spec[name] = [c.strip() for c in chain.split(">")]
    return TableSpec(dims=spec)


@app.command()
def check(file: Path, dims: str = typer.Option(..., help="Table dimensions, comma separated."),
          value: str = typer.Option(None, help="Magnitude column (omit for counts)."),
          unit: str = typer.Option(None, help="Contributor id (persons, enterprises)."),
          weight: str = typer.Option(None, help="Survey weight column."),
          rules: str = typer.Option(None, help="Overrides: nk=2:0.9,p=0.1,pq=0.2:1,zeros=false"),
          threshold: int = typer.Option(10, help="Minimum distinct contributors."),
          as_json: bool = JSON) -> None:
    """Primary rules on a table from contributor-level data, with ACRO 1.0.2's defaults and
    operators (threshold 10, NK(2, 0.9), p-ratio 0.1, zeros) counted on distinct units."""
    from disclosure.outputs import frequency_table, magnitude_table

    df = read_input(file)
    params = _params(rules, threshold)
    d = _split(dims)
    verdict = (magnitude_table(df, d, value, unit, weight, params) if value
               else frequency_table(df, d, unit, weight, params))
    emit(verdict.model_dump(), as_json, _render)


@app.command()
def protect(file: Path, dims: str = typer.Option(..., help="Table dimensions, comma separated."),
            value: str = typer.Option(None, help="Magnitude column (omit for counts)."),
            unit: str = typer.Option(None, help="Contributor id."),
            weight: str = typer.Option(None, help="Survey weight column."),
            hierarchy: str = typer.Option(None, help="e.g. geo=municipality>province"),
            rules: str = typer.Option(None, help="Overrides: nk=2:0.9,p=0.1,pq=0.2:1"),
            threshold: int = typer.Option(10, help="Minimum distinct contributors."),
            method: str = typer.Option("auto", help="optimal | hypercube | fast | auto"),
            time_budget: float = typer.Option(30.0, help="Seconds before the safe fallback."),
            exact_audit: bool = typer.Option(False, help="Exact LP intervals for every "
                                             "suppressed primary (slower on big tables)."),
            output: Annotated[Path | None, typer.Option(help="Write cells as CSV.")] = None,
            as_json: bool = JSON) -> None:
    """Primary and secondary cell suppression (τ-Argus/sdcTable semantics: OPT as a HiGHS MILP,
    a GHMITER-like hypercube method, a fast LP heuristic, time budget with audited fallback)
    and the feasibility audit that proves every primary's protection."""
    if method not in METHODS:
        raise SdwhError(f"Unknown method {method!r}.", f"Use one of {', '.join(METHODS)}.")
    df = read_input(file)
    cells, res, problem = protect_table(df, _spec(dims, hierarchy), value=value, unit=unit,
                                        weight=weight, params=_params(rules, threshold),
                                        method=cast(Method, method), time_budget=time_budget,
                                        exact_audit=exact_audit)
    if output is not None:
        cells.drop(columns=["top"]).to_csv(output, index=False)
    emit({"file": str(file), **res.summary(problem)}, as_json, _render)
