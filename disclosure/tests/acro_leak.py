"""The report's §1.6 scenario: microdata and the two tables ACRO publishes with suppress=True."""

from __future__ import annotations

import numpy as np
import pandas as pd

AGES = ["18-44", "45-87", "88+"]


def leak_microdata(seed: int = 7) -> pd.DataFrame:
    """3,000 records; BRU has 21 (9 F), none aged 88+ — as in the report's demonstration."""
    rng = np.random.default_rng(seed)
    n_main = 2979
    main = pd.DataFrame({
        "region": rng.choice(["ANT", "LIM", "OVL"], n_main),
        "agegrp": rng.choice(AGES, n_main, p=[.5, .45, .05]),
        "sex": rng.choice(["F", "M"], n_main),
    })
    bru = pd.DataFrame({"region": "BRU", "agegrp": [AGES[0]] * 11 + [AGES[1]] * 10,
                        "sex": ["F", "M"] * 9 + ["M"] * 3})
    return pd.concat([main, bru], ignore_index=True)


def acro_crosstab(df: pd.DataFrame, row: str, col: str, threshold: int = 10) -> pd.DataFrame:
    """ACRO 1.0.2 ``crosstab(margins=True)`` with suppress=True: cells < threshold or zero are
    suppressed by deleting their records and recomputing the table; suppressed cells are NaN."""
    full = pd.crosstab(df[row], df[col])
    bad = (full < threshold) | (full == 0)
    keep = df
    for r, c in zip(*np.nonzero(bad.to_numpy()), strict=True):
        keep = keep[~((keep[row] == full.index[r]) & (keep[col] == full.columns[c]))]
    out = pd.crosstab(keep[row], keep[col], margins=True).astype(float)
    out = out.reindex(index=[*full.index, "All"], columns=[*full.columns, "All"])
    for r, c in zip(*np.nonzero(bad.to_numpy()), strict=True):
        out.iloc[r, c] = np.nan
    return out
