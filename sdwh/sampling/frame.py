"""The sampling frame: the quarter's population from the integrated layer of the warehouse."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from sdwh.errors import SdwhError
from sdwh.sampling.design import SampleDesign

FRAME_SQL = """
select pq.person_id,
       coalesce(p.household_id, pq.person_id) as household_id,
       pq.age, pq.sex_code, pq.municipality_refnis, pq.arrondissement_refnis,
       pq.province_refnis, pq.nationality_group,
       cast(year(p.birth_date) as integer) as birth_year,
       pq.register_year,
       cast(coalesce(pq.is_working, false) as integer) as is_working,
       cast(coalesce(pq.is_unemployed, false) as integer) as is_unemployed
from integrated.int_person_quarter pq
join integrated.int_persons p on p.person_id = pq.person_id and p.register_year = pq.register_year
where pq.quarter = ? and pq.age between ? and ?
order by pq.person_id
"""


def read_frame(database: Path, design: SampleDesign) -> pd.DataFrame:
    """Everyone in the design's population in its reference quarter, sorted by pseudonym."""
    if not database.is_file():
        raise SdwhError(f"no warehouse at {database}",
                        "Run `sdwh build` first: the frame comes from the integrated layer.")
    with duckdb.connect(str(database), read_only=True) as con:
        frame = con.execute(FRAME_SQL, [design.reference_quarter, design.population.min_age,
                                        design.population.max_age]).df()
    if frame.empty:
        raise SdwhError(f"the warehouse has nobody aged {design.population.min_age}-"
                        f"{design.population.max_age} in {design.reference_quarter}",
                        "Pick a reference quarter the warehouse holds (`sdwh build --json`).")
    bands = design.age_bands
    index = np.digitize(frame["age"].to_numpy(), bands) - 1
    labels = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(bands)]
    frame["age_band"] = [labels[i] if 0 <= i < len(labels) else "other" for i in index]
    return frame
