"""Run `dbt build` in-process (dbtRunner) and collect what happened to every node."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbt.cli.main import dbtRunner

from sdwh.errors import SdwhError
from sdwh.warehouse.project import LAYERS, WarehousePaths, project_dir


@dataclass
class NodeResult:
    unique_id: str
    resource_type: str  # model | seed | test | unit_test
    layer: str
    status: str
    seconds: float
    message: str = ""


@dataclass
class BuildResult:
    nodes: list[NodeResult] = field(default_factory=list)
    seconds: float = 0.0

    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]


def layer_of(node: Any) -> str:
    """The warehouse layer of a node: its models/<layer>/ folder, seeds, or 'tests'."""
    fqn = list(getattr(node, "fqn", []) or [])
    for part in fqn[1:2]:
        if part in LAYERS:
            return part
    return "seeds" if getattr(node, "resource_type", "") == "seed" else "other"


def _event_callback(on_event: Callable[[str, str], None] | None) -> Callable[[Any], None]:
    def callback(event: Any) -> None:
        if on_event is None:
            return
        name = event.info.name
        if name in ("NodeStart", "NodeFinished"):
            node = event.data.node_info
            on_event(name, node.unique_id)
    return callback


def dbt_args(paths: WarehousePaths, command: str, refresh_from: str | None, full_refresh: bool,
             select: str | None) -> list[str]:
    args = [command, "--project-dir", str(project_dir()), "--profiles-dir", str(project_dir()),
            "--target-path", str(paths.dbt_target), "--log-path", str(paths.dbt_logs), "--quiet"]
    if full_refresh:
        args.append("--full-refresh")
    variables: dict[str, Any] = {"survey": paths.has_linked_survey}
    if refresh_from:
        variables["refresh_from_quarter"] = refresh_from
    args += ["--vars", json.dumps(variables)]
    if select:
        args += ["--select", select]
    return args


def parse_project(paths: WarehousePaths) -> Any:
    """Parse the project once; the manifest is reused by the build (no second parse)."""
    res = dbtRunner().invoke(dbt_args(paths, "parse", None, False, None))
    if not res.success:
        raise SdwhError(f"the dbt project does not parse: {res.exception}",
                        "Run `dbt parse` in the repository root to see the offending file.")
    return res.result


def count_build_nodes(manifest: Any) -> int:
    """Seeds, models and tests `dbt build` runs (for the progress bar)."""
    kinds = {"model", "seed", "test", "unit_test"}
    nodes = list(manifest.nodes.values()) + list(getattr(manifest, "unit_tests", {}).values())
    return sum(str(n.resource_type) in kinds and getattr(n.config, "enabled", True)
               for n in nodes)


def run_dbt(args: list[str], on_event: Callable[[str, str], None] | None = None,
            manifest: Any = None) -> BuildResult:
    """Invoke dbt; a failure to start (bad project, profile) becomes an SdwhError."""
    started = time.perf_counter()
    runner = dbtRunner(manifest=manifest, callbacks=[_event_callback(on_event)])
    res = runner.invoke(args)
    if res.exception is not None:
        raise SdwhError(f"dbt could not run: {res.exception}",
                        "Check dbt_project.yml/profiles.yml, or run with DBT_DEBUG=1.")
    build = BuildResult(seconds=time.perf_counter() - started)
    for r in getattr(res.result, "results", None) or []:
        node = r.node
        build.nodes.append(NodeResult(node.unique_id, str(node.resource_type), layer_of(node),
                                      str(r.status), float(r.execution_time or 0.0),
                                      (r.message or "")[:500]))
    return build
