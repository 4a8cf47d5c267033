"""The library call behind `sdwh build`: decide full or incremental, run dbt, summarise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sdwh.config import Settings
from sdwh.warehouse import increments
from sdwh.warehouse.project import check_raw_store, current_deliveries, prepare_environment
from sdwh.warehouse.runner import count_build_nodes, dbt_args, parse_project, run_dbt
from sdwh.warehouse.summary import summarise

NOTHING_NEW = "9999Q4"  # an incremental window that selects no quarter


def build_warehouse(settings: Settings, full_refresh: bool = False, select: str | None = None,
                    on_event: Callable[[str, str], None] | None = None,
                    on_total: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Build the warehouse from the raw store; incremental unless asked or first time.

    Returns the summary (rows per layer, tests, seconds per layer, indicators, failures).
    """
    paths = prepare_environment(settings)
    deliveries = current_deliveries(paths)
    check_raw_store(deliveries)
    previous = increments.read_state(paths.state_file)
    first_build = not previous or not paths.database.is_file()
    full = full_refresh or first_build
    start = None if full else (increments.refresh_from(previous, deliveries) or NOTHING_NEW)
    manifest = parse_project(paths)
    if on_total is not None:
        on_total(count_build_nodes(manifest))
    result = run_dbt(dbt_args(paths, "build", start, full, select), on_event, manifest)
    payload = summarise(result, paths)
    payload["mode"] = "full" if full else "incremental"
    payload["refresh_from"] = start
    if not payload["failures"] and select is None:
        increments.write_state(paths.state_file, {d[0] for d in deliveries})
    return payload
