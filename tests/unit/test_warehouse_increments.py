"""Which quarters a build re-processes, and when it must rebuild everything."""

from __future__ import annotations

from pathlib import Path

from sdwh.warehouse import increments


def make_project(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "models" / "m.sql").write_text("select 1")
    (root / "seeds").mkdir()
    (root / "seeds" / "s.csv").write_text("a\n1\n")
    (root / "dbt_project.yml").write_text("name: x\n")
    return root


def test_fingerprint_changes_with_any_model_seed_or_macro(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    before = increments.project_fingerprint(project)
    assert increments.project_fingerprint(project) == before
    (project / "seeds" / "s.csv").write_text("a\n2\n")
    after_seed = increments.project_fingerprint(project)
    assert after_seed != before
    (project / "macros").mkdir()
    (project / "macros" / "x.sql").write_text("{% macro x() %}{% endmacro %}")
    assert increments.project_fingerprint(project) != after_seed


def test_fingerprint_ignores_files_outside_the_project_parts(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    before = increments.project_fingerprint(project)
    (project / "README.md").write_text("notes")
    assert increments.project_fingerprint(project) == before


def test_state_round_trips_deliveries_and_fingerprint(tmp_path: Path) -> None:
    state = tmp_path / "build_state.json"
    assert increments.read_fingerprint(state) is None and increments.read_state(state) == set()
    increments.write_state(state, {"d2", "d1"}, "abc")
    assert increments.read_state(state) == {"d1", "d2"}
    assert increments.read_fingerprint(state) == "abc"


def test_refresh_starts_at_the_earliest_quarter_a_new_delivery_touches() -> None:
    current = [("a", "rsz", "dmfa", "2025Q2"), ("b", "rva", "benefits", "2025-02"),
               ("c", "rr", "population", "2025")]
    assert increments.refresh_from({"a", "b", "c"}, current) is None
    assert increments.refresh_from({"c"}, current) == "2025Q1"
    assert increments.refresh_from({"b", "c"}, current) == "2025Q2"
    assert increments.refresh_from({"a", "b"}, current) == "2025Q1"  # a yearly snapshot
