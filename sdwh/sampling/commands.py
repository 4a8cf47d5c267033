"""``sdwh sample draw|show``: TTP samples from the population register for surveys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sdwh.audit.log import audit_log
from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.errors import SdwhError
from sdwh.sampling.design import load_design
from sdwh.sampling.draw import draw_sample, samples_dir

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Draw survey samples from the population register (TTP service).")
JSON_OPTION = typer.Option("--json", help="Print one JSON object.")


def _render(payload: dict[str, Any]) -> None:
    table = Table(title=f"Sample {payload['sample_id']} ({payload['allocation']} allocation, "
                        f"clusters: {payload['cluster']})")
    for col in ("stratum", "units in frame", "sampled", "π"):
        table.add_column(col, justify="left" if col == "stratum" else "right")
    for s in payload["strata"]:
        table.add_row(s["stratum"], f"{s['units']:,}", f"{s['sampled']:,}",
                      f"{s['sampled'] / s['units']:.4f}")
    console.print(table)
    console.print(f"{payload['units_sampled']:,} units, {payload['persons_sampled']:,} persons "
                  f"sampled from {payload['units_in_frame']:,}. Contact file for the survey "
                  f"organisation: {payload.get('contact_file', '')}")


@app.command()
def draw(
    design: Annotated[Path, typer.Option(help="Sample design YAML (see "
                                              "sdwh/sampling/designs/).")],
    seed: Annotated[int, typer.Option(help="Random seed; same seed and frame, same sample.")],
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Draw a stratified (optionally household-clustered) sample and store it at the TTP."""
    settings = get_settings()
    summary = draw_sample(settings, load_design(design), seed)
    folder = samples_dir(settings) / summary["sample_id"]
    audit_log(settings).append("sample.drawn", "ttp", sample_id=summary["sample_id"],
                               design=summary["design"], seed=seed,
                               persons=summary["persons_sampled"])
    emit({**summary, "folder": str(folder),
          "contact_file": str(folder / "outbox" / "contact.csv")}, as_json, _render)


@app.command()
def show(sample_id: str, as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Describe a drawn sample (and its linkage, once responses are linked)."""
    folder = samples_dir(get_settings()) / sample_id
    if not (folder / "summary.json").exists():
        raise SdwhError(f"no sample {sample_id}", "List samples with `ls $SDWH_HOME/ttp/samples`.")
    summary = json.loads((folder / "summary.json").read_text())
    emit({**summary, "folder": str(folder),
          "contact_file": str(folder / "outbox" / "contact.csv")}, as_json, _render)


@app.command("synth-responses")
def synth_responses(
    sample_id: str,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated fieldwork.")] = 1,
    keyed_by: Annotated[str, typer.Option(help="How responses identify persons: insz "
                                               "(statbel/lfs_responses) or sample_key "
                                               "(statbel/lfs_responses_by_key).")] = "insz",
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Simulate the survey organisation's LFS responses to a sample (synthetic data only)."""
    from sdwh.sampling.responses import DATASETS, simulate_responses

    if keyed_by not in DATASETS:
        raise SdwhError(f"unknown --keyed-by {keyed_by!r}", "Use insz or sample_key.")
    result = simulate_responses(get_settings(), sample_id, seed, keyed_by)  # type: ignore[arg-type]
    emit(result, as_json, lambda p: console.print(
        f"{p['responses']:,} responses from {p['households_responding']:,} of "
        f"{p['households_sampled']:,} households written to {p['delivery']}; "
        "run `sdwh ingest` next."))


@app.command()
def link(
    sample_id: str,
    distance: Annotated[str, typer.Option(help="Calibration distance: raking or linear "
                                               "(GREG).")] = "raking",
    delivery: Annotated[str | None, typer.Option(help="Response delivery id to link, when "
                                                      "the quarter has several.")] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Link ingested responses to the sample and the panel; compute calibrated weights."""
    from sdwh.sampling.linkage import link_responses

    if distance not in ("raking", "linear"):
        raise SdwhError(f"unknown calibration distance {distance!r}", "Use raking or linear.")
    settings = get_settings()
    report = link_responses(settings, sample_id, distance, delivery)  # type: ignore[arg-type]
    audit_log(settings).append("sample.linked", "ttp", sample_id=sample_id,
                               delivered=report["delivered"], linked=report["linked"])

    def render(p: dict[str, Any]) -> None:
        table = Table(title=f"Non-response by stratum, sample {p['sample_id']}")
        for col in ("stratum", "sampled", "responding", "response rate"):
            table.add_column(col, justify="left" if col == "stratum" else "right")
        for s in p["nonresponse"]:
            table.add_row(s["stratum"], str(s["sampled"]), str(s["responding"]),
                          f"{s['response_rate']:.1%}")
        console.print(table)
        cal = p["calibration"]
        console.print(f"{p['delivered']:,} responses delivered = {p['linked']:,} linked + "
                      f"{sum(p['unlinked'].values()):,} unlinked"
                      f"{' ' + str(p['unlinked']) if p['unlinked'] else ''}; "
                      f"{cal['distance']} calibration to {len(cal['categories'])} register "
                      f"margins in {cal['iterations']} steps (weights {cal['weight_min']:.1f}–"
                      f"{cal['weight_max']:.1f}, total {cal['weighted_total']:,.0f} = "
                      f"population {cal['population']:,}). Run `sdwh build` to refresh "
                      "thm_survey_admin_comparison.")
        rate = p["estimates"]["unemployment_rate"]
        if rate:
            console.print(f"ILO unemployment rate {rate['estimate']:.1%} (jackknife SE "
                          f"{rate['se']:.1%}, {p['estimates']['replicates']} replicates).")
    emit(report, as_json, render)
