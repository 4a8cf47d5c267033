"""The library call behind `sdwh build`: decide full or incremental, run dbt, summarise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sdwh.config import Settings
from sdwh.warehouse import increments
from sdwh.warehouse.project import (
    check_raw_store,
    current_deliveries,
    prepare_environment,
    project_dir,
)
from sdwh.warehouse.runner import count_build_nodes, dbt_args, parse_project, run_dbt
from sdwh.warehouse.summary import summarise

NOTHING_NEW = "9999Q4"  # an incremental window that selects no quarter
#: Skipped by an incremental build of an unchanged project: seeds are loaded and unit tests
#: passed by the build that wrote the fingerprint, and neither depends on deliveries; views
#: (staging, spells, label views) read their inputs when queried, so re-creating them would
#: only cost dbt's per-node overhead. Tests on the views still run.
UNCHANGED_BY_DELIVERIES = ("resource_type:seed", "resource_type:unit_test",
                           "resource_type:model,config.materialized:view")


def build_warehouse(settings: Settings, full_refresh: bool = False, select: str | None = None,
                    on_event: Callable[[str, str], None] | None = None,
                    on_total: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Build the warehouse from the raw store; incremental unless asked, first time, or the
    dbt project changed since the last build.

    Returns the summary (rows per layer, tests, seconds per layer, indicators, failures).
    """
    paths = prepare_environment(settings)
    deliveries = current_deliveries(paths)
    check_raw_store(deliveries)
    previous = increments.read_state(paths.state_file)
    # The dbt vars that enable models (a linked survey turns its staging views and thematic
    # table on) are part of the project: an incremental build skips views, so models enabled
    # since the last build would never be created.
    project = increments.project_fingerprint(project_dir())
    fingerprint = f"{project}|survey={paths.has_linked_survey}"
    first_build = not previous or not paths.database.is_file()
    changed = increments.read_fingerprint(paths.state_file) != fingerprint
    full = full_refresh or first_build or changed
    start = None if full else (increments.refresh_from(previous, deliveries) or NOTHING_NEW)
    manifest = parse_project(paths)
    args = dbt_args(paths, "build", start, full, select)
    if not full:
        args += ["--exclude", *UNCHANGED_BY_DELIVERIES]
    if on_total is not None:
        on_total(count_build_nodes(manifest) if full else None)
    result = run_dbt(args, on_event, manifest)
    payload = summarise(result, paths)
    payload["mode"] = "full" if full else "incremental"
    payload["refresh_from"] = start
    if not payload["failures"] and select is None:
        increments.write_state(paths.state_file, {d[0] for d in deliveries}, fingerprint)
    return payload
