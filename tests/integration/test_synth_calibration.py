"""At 100k persons the delivered files reproduce the domain report's calibration targets
(computed from the files alone, joining suppliers on INSZ)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sdwh.synth import DefectRates, generate

PERSONS = 100_000


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    out: Path = tmp_path_factory.mktemp("calibration")
    generate(out, PERSONS, "2025Q1", "2025Q1", seed=2025, defects=DefectRates.none())
    con = duckdb.connect()

    def csv(folder: str, delim: str) -> str:
        return (f"read_csv('{out / folder}/*.csv', delim='{delim}', header=true, "
                f"all_varchar=true)")

    con.execute(f"""
        CREATE VIEW rr AS SELECT *, date_diff('year', strptime(birth_date, '%Y%m%d'),
            DATE '2025-01-01') AS age FROM {csv('rr__population__2025__r1', '|')};
        CREATE VIEW rsz AS SELECT * FROM {csv('rsz__dmfa_employment_lines__2025Q1__r2', ';')};
        CREATE VIEW rsvz AS SELECT * FROM {csv('rsvz__selfemployed__2025Q1__r1', ';')};
        CREATE VIEW podmi AS SELECT * FROM {csv('podmi__social_integration__2025-03__r1', ';')};
        CREATE VIEW vdab AS SELECT * FROM
            read_parquet('{out}/vdab__jobseekers__2025-03__r1/*.parquet');
        CREATE VIEW worker AS SELECT rr.insz, rr.sex,
            rr.insz IN (SELECT insz FROM rsz) OR rr.insz IN (SELECT insz FROM rsvz) AS works,
            rr.insz IN (SELECT insz FROM rsvz WHERE aard = 'HB') AS self_main
            FROM rr WHERE age BETWEEN 20 AND 64;
    """)
    one = lambda sql: float(con.execute(sql).fetchone()[0])  # noqa: E731
    return {
        "employment_20_64": one("SELECT avg(works::INT) FROM worker"),
        "employment_men": one("SELECT avg(works::INT) FROM worker WHERE sex = 'M'"),
        "employment_women": one("SELECT avg(works::INT) FROM worker WHERE sex = 'F'"),
        "self_employed_of_workers": one("SELECT avg(self_main::INT) FROM worker WHERE works"),
        "part_time_of_employees": one("""SELECT avg((total < 100)::INT) FROM (SELECT insz,
            sum(parttime_pct::DOUBLE) AS total FROM rsz GROUP BY insz)"""),
        "nwwz_of_population": one("SELECT (SELECT count(*) FROM vdab) / count(*) FROM rr"),
        "wzua_of_nwwz": one("SELECT avg((nwwz_category = '00')::INT) FROM vdab"),
        "non_belgian": one("SELECT avg((nationality_nis <> '150')::INT) FROM rr"),
        "foreign_origin": one("""SELECT avg((nationality_nis <> '150'
            OR first_nationality_nis <> '150' OR coalesce(father_first_nationality_nis, '150')
            <> '150' OR coalesce(mother_first_nationality_nis, '150') <> '150')::INT) FROM rr"""),
        "leefloon_of_population": one("SELECT (SELECT count(*) FROM podmi) / count(*) FROM rr"),
        "cross_border_of_rsz": one("""SELECT avg((insz NOT IN (SELECT insz FROM rr))::INT)
            FROM (SELECT DISTINCT insz FROM rsz)"""),
        "population_2025": one("SELECT count(*) FROM rr") / PERSONS,
    }


TARGETS = [  # (figure, target, tolerance)
    ("employment_20_64", 0.768, 0.015),
    ("employment_men", 0.803, 0.02),
    ("employment_women", 0.733, 0.02),
    ("self_employed_of_workers", 0.14, 0.015),
    ("part_time_of_employees", 0.276, 0.02),
    ("nwwz_of_population", 0.0312, 0.004),
    ("wzua_of_nwwz", 0.51, 0.06),
    ("non_belgian", 0.11, 0.01),
    ("foreign_origin", 0.24, 0.02),
    ("leefloon_of_population", 0.0055, 0.0015),
    ("cross_border_of_rsz", 0.02, 0.006),
    ("population_2025", 1.0, 0.06),
]


@pytest.mark.parametrize("name,target,tolerance", TARGETS, ids=[t[0] for t in TARGETS])
def test_delivered_files_match_calibration_target(figures, name, target, tolerance) -> None:
    assert figures[name] == pytest.approx(target, abs=tolerance), figures
