"""``sdwh catalog``: the DCAT-AP catalogue and the variable dictionary, validated."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.errors import SdwhError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Write and validate the DCAT-AP catalogue and the variable dictionary.")


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: temp file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_catalog(settings: Any) -> dict[str, Any]:
    """Catalogue (Turtle) + dictionary (JSON) under $SDWH_HOME/catalog; SHACL must conform."""
    from sdwh.catalog import dcat, dictionary

    releases = dcat.release_docs(settings.root / "releases")
    graph = dcat.build_catalog(releases, settings.publish_base_url)
    conforms, report = dcat.validate(graph)
    if not conforms:
        raise SdwhError("the DCAT catalogue does not conform to the DCAT-AP VL shapes.",
                        "Nothing was written. " + report.splitlines()[2][:300]
                        if len(report.splitlines()) > 2 else report[:300])
    out = settings.root / "catalog"
    ttl = graph.serialize(format="turtle").encode()
    target = settings.root / "warehouse" / "dbt" / "target"
    manifest = dictionary.load_manifest(target)
    schema = dictionary.warehouse_schema(settings.root / "warehouse" / "sdwh.duckdb")
    entries = dictionary.build_dictionary(manifest, schema)
    _write(out / "catalog.ttl", ttl)
    _write(out / "dictionary.json",
           (json.dumps(entries, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode())
    _write(out / "changes.json", (json.dumps(dictionary.change_log(), indent=1) + "\n").encode())
    unresolved = sum(any("[" in leaf for leaf in e["source_fields"]) for e in entries)
    return {"catalog": str(out / "catalog.ttl"), "triples": len(graph),
            "datasets": len(set(graph.subjects(
                predicate=dcat.RDF.type, object=dcat.DCAT.Dataset))),
            "distributions": len(set(graph.subjects(
                predicate=dcat.RDF.type, object=dcat.DCAT.Distribution))),
            "shacl_conforms": conforms, "releases": [r["release"] for r in releases],
            "dictionary_entries": len(entries), "lineage_unresolved": unresolved,
            "dictionary": str(out / "dictionary.json")}


@app.command("build")
def build(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
          = False) -> None:
    """Write catalog.ttl (DCAT-AP VL, SHACL-validated) and dictionary.json with lineage."""
    payload = write_catalog(get_settings())
    emit(payload, as_json, lambda p: console.print(
        f"{p['datasets']} datasets, {p['distributions']} distributions, {p['triples']} "
        f"triples; SHACL conforms. Dictionary: {p['dictionary_entries']} variables "
        f"({p['lineage_unresolved']} with unresolved lineage).\n[dim]{p['catalog']}[/]"))
