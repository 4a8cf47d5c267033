"""The registry on disk: changes persist, each writes one audit event, errors change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from sdwh.audit.log import audit_log
from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.projects.model import ProjectState
from sdwh.projects.population import check_population
from sdwh.projects.registry import Registry

AUTH = dict(title="NEET youth", organisation="KU Leuven", legal_basis="art. 5 VSA decree",
            accredited=["alice", "bob"], datasets=["thm_neet_youth"],
            variables=["age", "sex_code", "is_neet"], period_from="2024Q1", period_to="2025Q4",
            start_date=date(2026, 1, 1), end_date=date(2099, 12, 31),
            retention_until=date(2099, 12, 31))


def test_life_cycle_is_stored_and_audited(settings: Settings):
    reg = Registry(settings)
    reg.create("staff1", id="neet-2026", **AUTH)
    reg.approve("neet-2026", "staff2", "IVC/26/001")
    reg.activate("neet-2026", "staff2")
    reg.grant("neet-2026", "alice", "staff2")
    reg.grant("neet-2026", "bob", "staff2")
    reg.revoke("neet-2026", "bob", "staff2", reason="left the team")
    p = Registry(settings).get("neet-2026")
    assert p.state is ProjectState.ACTIVE and p.researchers == ["alice"] and p.revoked == ["bob"]
    events = [e["event"] for e in audit_log(settings).events("project.")]
    assert events == ["project.requested", "project.approved", "project.activated",
                      "project.granted", "project.granted", "project.revoked"]
    assert audit_log(settings).verify().ok
    assert [h["action"] for h in reg.history("neet-2026")] == [
        "create", "approve", "activate", "grant", "grant", "revoke"]
    assert [p.id for p in reg.active_projects_for("alice", date(2026, 3, 1))] == ["neet-2026"]
    assert reg.active_projects_for("bob", date(2026, 3, 1)) == []
    assert reg.active_projects_for("alice", date(2025, 12, 31)) == []


def test_forbidden_change_leaves_registry_and_audit_untouched(settings: Settings):
    reg = Registry(settings)
    reg.create("staff1", id="neet-2026", **AUTH)
    before = audit_log(settings).verify().events
    with pytest.raises(SdwhError, match="is requested; it cannot grant"):
        reg.grant("neet-2026", "alice", "staff2")
    assert reg.get("neet-2026").researchers == []
    assert audit_log(settings).verify().events == before


def test_unknown_project_and_duplicate_id_are_refused(settings: Settings):
    reg = Registry(settings)
    with pytest.raises(SdwhError, match="no project 'nope'"):
        reg.get("nope")
    reg.create("staff1", id="neet-2026", **AUTH)
    with pytest.raises(SdwhError, match="already exists"):
        reg.create("staff1", id="neet-2026", **AUTH)


def test_authorisation_must_name_thematic_datasets_and_their_columns(settings: Settings):
    reg = Registry(settings)
    with pytest.raises(SdwhError, match="not a thematic dataset"):
        reg.create("staff1", id="p-1", **(AUTH | {"datasets": ["int_persons"]}))
    with pytest.raises(SdwhError, match="not a column"):
        reg.create("staff1", id="p-1", **(AUTH | {"variables": ["insz"]}))
    with pytest.raises(SdwhError, match="period"):
        reg.create("staff1", id="p-1", **(AUTH | {"period_from": "2024"}))


def test_expire_due_moves_past_projects_to_expired(settings: Settings):
    reg = Registry(settings)
    reg.create("staff1", id="old-one", **(AUTH | {"end_date": date(2098, 12, 31)}))
    reg.approve("old-one", "staff2", "D/1")
    reg.activate("old-one", "staff2")
    assert reg.expire_due(date(2098, 12, 31)) == []
    assert [p.id for p in reg.expire_due(date(2099, 1, 1))] == ["old-one"]
    assert reg.get("old-one").state is ProjectState.EXPIRED
    assert [e["actor"] for e in audit_log(settings).events("project.expired")] == ["system"]


@pytest.mark.parametrize("condition", [
    "age > (select max(age) from thm_neet_youth)", "read_csv('/etc/passwd') is not null",
    "lower(sex_code) = 'm'", "x.age = 1"])
def test_population_condition_refuses_anything_but_comparisons(condition):
    with pytest.raises(SdwhError, match=r"may not use|not valid|which the dataset"):
        check_population(condition, ["age", "sex_code"])


def test_population_condition_normalised():
    assert check_population("age between 18 and 24 AND sex_code='F'", ["age", "sex_code"]) == (
        "age BETWEEN 18 AND 24 AND sex_code = 'F'")


def test_cli_create_approve_grant_list_show(home: Path):
    def run(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "sdwh", "project", *args, "--json"],
                             env={**os.environ, "SDWH_HOME": str(home)}, capture_output=True,
                             text=True, timeout=120)
        return json.loads(out.stdout.strip().splitlines()[-1]) | {"_rc": out.returncode}

    created = run("create", "neet-2026", "--title", "NEET", "--organisation", "UGent",
                  "--legal-basis", "art. 5", "--researcher", "alice,bob", "--dataset",
                  "thm_neet_youth", "--variables", "age,is_neet", "--from", "2024Q1", "--to",
                  "2025Q4", "--start", "2026-01-01", "--end", "2099-12-31",
                  "--retention-until", "2099-12-31", "--as", "staff1")
    assert created["_rc"] == 0 and created["project"]["state"] == "requested"
    refused = run("approve", "neet-2026", "--deliberation", "D/1", "--as", "staff1")
    assert refused["_rc"] == 1 and "four eyes" in refused["hint"]
    assert run("approve", "neet-2026", "--deliberation", "D/1", "--as", "staff2")["_rc"] == 0
    assert run("activate", "neet-2026", "--as", "staff2")["project"]["state"] == "active"
    assert run("grant", "neet-2026", "alice", "--as", "staff2")["project"]["researchers"] == [
        "alice"]
    listed = run("list")
    assert [p["id"] for p in listed["projects"]] == ["neet-2026"]
    shown = run("show", "neet-2026")
    assert [h["action"] for h in shown["history"]] == ["create", "approve", "activate", "grant"]
    assert shown["extract"] is None
    bad = run("grant", "neet-2026", "mallory", "--as", "staff2")
    assert bad["_rc"] == 1 and "not an accredited researcher" in bad["error"]
