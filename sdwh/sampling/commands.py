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
