"""CLI: one JSON object per command, sdcMicro/ACRO semantics, errors as SdwhError."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from disclosure.cli import app
from disclosure.tests.conftest import LOCAL
from sdwh.errors import SdwhError

runner = CliRunner()
FRANC = str(LOCAL / "francdat.csv")


def _micro_table(path) -> str:
    """A region × gender table from records: (A, female) has 2 contributors, all others ≥ 9."""
    sizes = {("A", "male"): 9, ("A", "female"): 2, ("B", "male"): 10, ("B", "female"): 11,
             ("C", "male"): 12, ("C", "female"): 13, ("D", "male"): 14, ("D", "female"): 15}
    lines = ["region,gender,val"] + [f"{r},{g},{10 + i}" for (r, g), n in sizes.items()
                                     for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)




def _json(args: list[str]) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_risk_json_reports_violations_and_global_risk():
    out = _json(["risk", FRANC, "--keys", "Key1,Key2,Key3,Key4", "--weight", "w", "--k", "2,3"])
    assert out["k_anonymity_violations"] == {"2": 4, "3": 8}
    assert out["global_risk_ER"] == pytest.approx(0.966526045, abs=1e-9)


def test_suda_json_has_contributions():
    out = _json(["suda", FRANC, "--keys", "Key1,Key2,Key3,Key4"])
    assert out["records_with_msu"] == 4 and set(out["attribute_contributions"]) == {
        "Key1", "Key2", "Key3", "Key4"}


def test_check_and_protect_json(tmp_path):
    micro = _micro_table(tmp_path / "micro.csv")
    verdict = _json(["check", micro, "--dims", "region,gender", "--threshold", "3",
                     "--rules", "zeros=false"])
    assert verdict["status"] == "fail" and verdict["failing_cells"]
    out = _json(["protect", micro, "--dims", "region,gender", "--threshold", "3", "--rules",
                 "zeros=false", "--method", "optimal", "--output", str(tmp_path / "c.csv")])
    assert out["primary"] == 1 and out["secondary"] == 3 and out["audit_ok"]
    assert (tmp_path / "c.csv").exists()


@pytest.mark.parametrize("args", [
    ["risk", FRANC, "--keys", "Nope"],
    ["risk", "missing.csv", "--keys", "Key1"],
    ["check", "MICRO", "--dims", "region", "--rules", "nk=oops"],
    ["protect", "MICRO", "--dims", "region", "--method", "magic"],
])
def test_bad_input_raises_one_sentence_sdwh_error(args, tmp_path):
    micro = _micro_table(tmp_path / "micro.csv")
    result = runner.invoke(app, [micro if a == "MICRO" else a for a in args])
    assert isinstance(result.exception, SdwhError)
    assert result.exception.hint
