"""The variable dictionary: every published column, its dbt description and its lineage.

Descriptions come from dbt's manifest (the model YAML). Lineage is traced by sqlglot over
dbt's compiled SQL, model by model: a published column's upstream columns are found in its
model's SQL, each upstream ``model.column`` is traced again in that model's SQL, and so on
until a source (a supplier's delivered field) or a column sqlglot cannot resolve (recorded as
such, never guessed). The methodological change log lists changes per variable.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import yaml
from sqlglot.lineage import lineage

from sdwh.errors import SdwhError
from sdwh.publish.indicators import INDICATORS

MAX_DEPTH = 8


def load_manifest(target: Path) -> dict[str, Any]:
    path = target / "manifest.json"
    if not path.is_file():
        raise SdwhError(f"no dbt manifest at {path}.", "Run `sdwh build` first.")
    return json.loads(path.read_text())


def warehouse_schema(db: Path) -> dict[str, Any]:
    """{catalog: {schema: {table: {column: type}}}} for sqlglot's star expansion."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select table_catalog, table_schema, table_name, column_name, "
                           "data_type from information_schema.columns").fetchall()
    finally:
        con.close()
    schema: dict[str, Any] = {}
    for cat, sch, table, col, typ in rows:
        schema.setdefault(cat, {}).setdefault(sch, {}).setdefault(table, {})[col] = typ
    return schema


def _upstream(node: dict[str, Any], column: str, schema: dict[str, Any]) -> list[str]:
    """``table.column`` names the column is computed from, inside one model's SQL."""
    try:
        root = lineage(column, node["compiled_code"], schema=schema, dialect="duckdb")
    except Exception as err:  # sqlglot raises many kinds for SQL it cannot follow
        return [f"?unresolved ({type(err).__name__})"]
    return sorted({n.name for n in root.walk() if not n.downstream})


def trace(manifest: dict[str, Any], model: str, column: str, schema: dict[str, Any],
          depth: int = 0, memo: dict[tuple[str, str, int], dict[str, Any]] | None = None
          ) -> dict[str, Any]:
    """Lineage tree of ``model.column`` down to source fields.

    ``memo`` shares the trees already traced: published columns have many upstream columns
    in common, and sqlglot's lineage of one column costs a parse of its model's SQL.
    """
    if memo is None:
        memo = {}
    key = (model, column, depth)
    if key not in memo:
        memo[key] = _trace(manifest, model, column, schema, depth, memo)
    return memo[key]


def _trace(manifest: dict[str, Any], model: str, column: str, schema: dict[str, Any],
           depth: int, memo: dict[tuple[str, str, int], dict[str, Any]]) -> dict[str, Any]:
    by_alias = {n["alias"]: n for n in manifest["nodes"].values()
                if n["resource_type"] == "model"}
    node = by_alias.get(model)
    if node is None:
        return {"column": f"{model}.{column}", "kind": "source"}
    if depth >= MAX_DEPTH:
        return {"column": f"{model}.{column}", "kind": "truncated"}
    ups = []
    sources = [".".join(src) for src in node.get("sources", [])]
    for name in _upstream(node, column, schema):
        table, _, col = name.rpartition(".")
        table = table.split(".")[-1].strip('"')
        if sources and (name.startswith("?") or col == "*"):
            # a staging model over the raw store: the column is the supplier's field
            ups.extend({"column": f"{src}.{column}", "kind": "source"} for src in sources)
        elif not table and name.replace(".", "").replace("'", "").isalnum() and (
                name[0].isdigit() or name.startswith("'")):
            ups.append({"column": name, "kind": "constant"})
        elif name.startswith("?") or col == "*" or not table:
            ups.append({"column": name, "kind": "unresolved"})
        elif table in by_alias and table != model:
            ups.append(trace(manifest, table, col, schema, depth + 1, memo))
        else:  # a CTE alias sqlglot could not follow further (e.g. a join of subqueries)
            ups.append({"column": f"{table}.{col}", "kind": "unresolved"})
    return {"column": f"{model}.{column}", "kind": "model", "from": ups}


def leaves(tree: dict[str, Any]) -> list[str]:
    """Supplier fields (and unresolved ends) at the bottom of a lineage tree."""
    if "from" not in tree:
        if tree["kind"] == "constant":
            return []
        return [tree["column"] + ("" if tree["kind"] == "source" else f" [{tree['kind']}]")]
    out: list[str] = []
    for child in tree["from"]:
        out.extend(leaves(child))
    return sorted(set(out))


def change_log() -> list[dict[str, Any]]:
    text = resources.files("sdwh.catalog").joinpath("changes.yml").read_text()
    return yaml.safe_load(text)["changes"]


def build_dictionary(manifest: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per published column: model, description, type, lineage, changes."""
    changes = change_log()
    memo: dict[tuple[str, str, int], dict[str, Any]] = {}
    out = []
    for ind in INDICATORS:
        node = manifest["nodes"].get(f"model.sdwh.{ind.model}")
        if node is None:
            raise SdwhError(f"dbt's manifest has no model {ind.model}.", "Run `sdwh build`.")
        for name, col in sorted(node["columns"].items()):
            tree = trace(manifest, ind.model, name, schema, memo=memo)
            out.append({
                "indicator": ind.id, "model": ind.model, "column": name,
                "description": col.get("description", ""), "data_type": col.get("data_type"),
                "lineage": tree, "source_fields": leaves(tree),
                "changes": [c for c in changes if name in c.get("variables", [])
                            or ind.model in c.get("models", [])],
            })
    return out
