"""sdwh synth writes every supplier's deliveries as its contract says, deterministically,
with each defect at its configured rate and none at all with ``--defects none``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from sdwh.errors import SdwhError
from sdwh.identifiers import check_insz
from sdwh.landing.contracts import load_contracts
from sdwh.landing.manifest import Manifest, sha256_of
from sdwh.synth import DefectRates, generate
from sdwh.synth.seeds import read_seed

QUARTERS = ("2024Q3", "2025Q1")  # crosses the 2025 municipality and NACE changes
RAISED = DefectRates(insz_check_digit=0.01, bis_month_invalid=0.005, refnis_unknown=0.01,
                     duplicate_rows=0.01)


def read_rows(folder: Path) -> tuple[Manifest, pa.Table]:
    manifest = Manifest.model_validate_json((folder / "manifest.json").read_text())
    contract = load_contracts()[f"{manifest.supplier}__{manifest.dataset}"]
    path = folder / manifest.files[0].name
    if contract.format == "parquet":
        table = pq.read_table(path)
        return manifest, pa.table({c: table[c].cast(pa.string()) for c in table.column_names})
    table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(
        delimiter=contract.csv.delimiter), convert_options=pacsv.ConvertOptions(
        strings_can_be_null=True, column_types={c: pa.string() for c in contract.column_names}))
    return manifest, table


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("raised")
    summary = generate(out, 6000, *QUARTERS, seed=11, defects=RAISED)
    return out, summary.model_dump()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean")
    summary = generate(out, 6000, *QUARTERS, seed=11, defects=DefectRates.none())
    return out, summary.model_dump()


def test_every_dataset_and_period_is_delivered_with_its_revisions(raised) -> None:
    out, _ = raised
    folders = {p.name for p in out.iterdir()}
    for key, contract in load_contracts().items():
        if contract.origin == "survey":
            continue
        assert any(f.startswith(key + "__") for f in folders), key
    assert {"rr__population__2024__r1", "rr__population__2025__r1"} <= folders
    months = [f"{y}-{m:02d}" for y, m in [(2024, 7), (2024, 12), (2025, 3)]]
    for m in months:
        assert f"vdab__jobseekers__{m}__r1" in folders
    for q in ("2024Q3", "2024Q4", "2025Q1"):
        assert {f"rsz__dmfa_employment_lines__{q}__r1",
                f"rsz__dmfa_employment_lines__{q}__r2"} <= folders
    assert not [f for f in folders if f.startswith(".")], "temporary folders left behind"


def test_files_follow_their_contract_and_manifest(raised) -> None:
    out, _ = raised
    truncated = 0
    for folder in sorted(out.iterdir()):
        manifest = Manifest.model_validate_json((folder / "manifest.json").read_text())
        assert folder.name == manifest.folder_name
        contract = load_contracts()[f"{manifest.supplier}__{manifest.dataset}"]
        path = folder / manifest.files[0].name
        if contract.format == "csv":
            header = path.read_bytes().split(b"\n", 1)[0].decode(contract.csv.encoding)
            assert header.split(contract.csv.delimiter) == contract.column_names
        if sha256_of(path) != manifest.files[0].sha256:
            truncated += 1
            assert not path.read_bytes().endswith(b"\n"), "a truncated file is cut mid-line"
            assert (folder.parent / folder.name.replace("__r1", "__r2")).exists()
            continue
        _, table = read_rows(folder)
        assert table.column_names == contract.column_names
        assert table.num_rows == manifest.files[0].rows
        assert table.num_rows > 0
    assert truncated == 1


def test_sent_at_lags_differ_by_supplier_and_rsz_revision_comes_later(raised) -> None:
    out, _ = raised
    r1 = Manifest.model_validate_json(
        (out / "rsz__dmfa_employment_lines__2024Q3__r1/manifest.json").read_text())
    r2 = Manifest.model_validate_json(
        (out / "rsz__dmfa_employment_lines__2024Q3__r2/manifest.json").read_text())
    assert 60 <= (r2.sent_at - r1.sent_at).days <= 110
    vdab = Manifest.model_validate_json((out / "vdab__jobseekers__2024-09__r1/manifest.json")
                                        .read_text())
    assert vdab.sent_at < r1.sent_at  # VDAB within weeks, RSZ after months
    _, a = read_rows(out / "rsz__dmfa_employment_lines__2024Q3__r1")
    _, b = read_rows(out / "rsz__dmfa_employment_lines__2024Q3__r2")
    assert 0.94 < a.num_rows / b.num_rows < 0.995


def _invalid_insz(table: pa.Table) -> Counter[str]:
    return Counter(check_insz(v).rule or "ok" for v in table["insz"].to_pylist())


def test_row_defects_appear_at_their_configured_rates(raised) -> None:
    out, summary = raised
    rules: Counter[str] = Counter()
    rows = 0
    refnis_rows = unknown_refnis = duplicates = 0
    known = {r["refnis"] for r in read_seed("refnis_municipality_flanders_2019_2024")}
    known |= {r["refnis"] for r in read_seed("refnis_municipality_flanders_2025")}
    for folder in sorted(out.iterdir()):
        manifest = Manifest.model_validate_json((folder / "manifest.json").read_text())
        if sha256_of(folder / manifest.files[0].name) != manifest.files[0].sha256:
            continue  # the truncated file
        _, table = read_rows(folder)
        rows += table.num_rows
        rules += _invalid_insz(table)
        for col in ("refnis_residence", "local_unit_refnis", "ocmw_refnis"):
            if col in table.column_names:
                values = table[col].to_pylist()
                refnis_rows += len(values)
                unknown_refnis += sum(v not in known for v in values)
        duplicates += table.num_rows - len(set(zip(*table.to_pydict().values(), strict=True)))
    assert rules["insz_check_digit"] / rows == pytest.approx(0.01, rel=0.25)
    assert rules["bis_month_invalid"] / rows == pytest.approx(0.005, rel=0.3)
    assert unknown_refnis / refnis_rows == pytest.approx(0.01, rel=0.3)
    assert duplicates / rows == pytest.approx(0.01, rel=0.3)
    for kind in DefectRates.model_fields:
        assert summary["defects"][kind] > 0, kind


def test_premerger_codes_are_sent_only_from_2025_for_merged_municipalities(raised) -> None:
    out, summary = raised
    merged_old = {r["refnis_2024"] for r in read_seed("refnis_merger_map_flanders_2024_2025")
                  if r["refnis_2024"] != r["refnis_2025"]}
    new_2025 = {r["refnis"] for r in read_seed("refnis_municipality_flanders_2025")}
    _, rr25 = read_rows(out / "rr__population__2025__r1")
    codes = rr25["refnis_residence"].to_pylist()
    old = sum(c in merged_old for c in codes)
    merged_people = old + sum(c in {r["refnis_2025"] for r in read_seed(
        "refnis_merger_map_flanders_2024_2025")} for c in codes)
    assert 0.15 < old / merged_people < 0.45
    assert summary["defects"]["premerger_refnis"] >= old
    _, rr24 = read_rows(out / "rr__population__2024__r1")
    assert not set(rr24["refnis_residence"].to_pylist()) & (new_2025 - {
        r["refnis"] for r in read_seed("refnis_municipality_flanders_2019_2024")})


def test_unit_defects_are_declared_or_deliberately_undeclared(raised) -> None:
    out, _ = raised
    manifests = [Manifest.model_validate_json((f / "manifest.json").read_text())
                 for f in out.iterdir()]
    eur = [m for m in manifests if m.units == {"gross_wage": "eur"}]
    keur = [m for m in manifests if m.units == {"amount": "keur"}]
    assert {m.revision for m in eur} == {1, 2} and len({m.reference_period for m in eur}) == 1
    assert len(keur) == 1 and keur[0].supplier == "podmi"
    _, table = read_rows(out / keur[0].folder_name)
    assert max(float(v) for v in table["amount"].to_pylist()) < 3.0  # k€: leefloon < 3000 €
    big_rva = []
    for m in manifests:
        if m.supplier == "rva" and m.revision == 1 and not m.units:
            path = out / m.folder_name / m.files[0].name
            if sha256_of(path) == m.files[0].sha256:
                _, t = read_rows(out / m.folder_name)
                big_rva.append(np.median([float(v) for v in t["amount"].to_pylist()]) > 4000)
    assert sum(big_rva) == 1  # one month in cents, undeclared


def test_clean_run_has_no_defects_but_keeps_rsz_revisions(clean) -> None:
    out, summary = clean
    assert all(v == 0 for v in summary["defects"].values())
    known = {r["refnis"] for r in read_seed("refnis_municipality_flanders_2019_2024")}
    known_2025 = {r["refnis"] for r in read_seed("refnis_municipality_flanders_2025")}
    for folder in sorted(out.iterdir()):
        manifest, table = read_rows(folder)
        assert manifest.units == {}
        assert sha256_of(folder / manifest.files[0].name) == manifest.files[0].sha256
        assert set(_invalid_insz(table)) == {"ok"}, folder.name
        assert table.num_rows == len(set(zip(*table.to_pydict().values(), strict=True)))
        year = int(manifest.reference_period[:4])
        for col in ("refnis_residence", "local_unit_refnis", "ocmw_refnis"):
            if col in table.column_names:
                assert set(table[col].to_pylist()) <= (known_2025 if year >= 2025 else known)
    assert (out / "rsz__dmfa_employment_lines__2025Q1__r2").exists()
    assert not [f for f in out.iterdir() if f.name.endswith("__r2") and "rsz" not in f.name]


def test_same_seed_gives_byte_identical_files_and_rerun_leaves_them(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    first = generate(a, 1500, "2024Q4", "2025Q1", seed=5, defects=DefectRates(), writers=3)
    generate(b, 1500, "2024Q4", "2025Q1", seed=5, defects=DefectRates(), writers=1)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    again = generate(a, 1500, "2024Q4", "2025Q1", seed=5, defects=DefectRates())
    assert again.deliveries_written == 0
    assert again.deliveries_unchanged == first.deliveries_written
    assert not [p for p in a.iterdir() if p.name.startswith(".")]  # no writer's temp folder
    other = generate(tmp_path / "c", 1500, "2024Q4", "2025Q1", seed=6, defects=DefectRates())
    assert (tmp_path / "c" / files[0]).read_bytes() != (a / files[0]).read_bytes()
    assert other.rows != first.rows or other.defects != first.defects


def test_refuses_to_overwrite_a_different_delivery(tmp_path: Path) -> None:
    generate(tmp_path, 800, "2025Q1", "2025Q1", seed=1, defects=DefectRates.none())
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(SdwhError, match="already exists with different content"):
        generate(tmp_path, 800, "2025Q1", "2025Q1", seed=2, defects=DefectRates.none())
    assert before == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("args,match", [
    ((50, "2024Q1", "2024Q2"), "--persons"),
    ((1000, "2024-01", "2024Q2"), "--from"),
    ((1000, "2024Q3", "2024Q1"), "after"),
])
def test_bad_arguments_raise_one_clear_error(tmp_path: Path, args, match) -> None:
    with pytest.raises(SdwhError, match=match) as err:
        generate(tmp_path, *args, seed=1, defects=DefectRates())
    assert err.value.hint
    assert not list(tmp_path.iterdir())


def test_cli_json_prints_one_object(tmp_path: Path) -> None:
    import subprocess
    import sys

    sdwh = Path(sys.executable).with_name("sdwh")
    done = subprocess.run([str(sdwh), "synth", "--persons", "500", "--from", "2025Q1", "--to",
                           "2025Q1", "--seed", "3", "--out", str(tmp_path), "--json"],
                          capture_output=True, text=True, check=True)
    payload = json.loads(done.stdout)
    assert payload["deliveries_written"] == len(list(tmp_path.iterdir()))
    assert set(payload) >= {"deliveries_written", "rows", "defects", "seconds"}
