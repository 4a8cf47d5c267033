"""Where ingest time goes: stage timers around one ingest run (issue 2).

    .venv/bin/python benchmarks/profile_ingest.py --persons 1000000 --quarter 2024Q3

Generates one quarter of deliveries, then ingests them with one worker (stages do not overlap)
and prints seconds per stage: file checksum, CSV/Parquet reading, identifier rules (numpy),
the other record rules (DuckDB), pseudonyms (cache: HMAC once per distinct number), and the
accepted-rows and quarantine write (harmonisation + Parquet).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--quarter", default="2024Q3")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sdwh-profile-"))
    os.environ.update(SDWH_HOME=str(home), SDWH_TTP_KEY="5a" * 32, SDWH_INGEST_WORKERS="1")

    import sdwh.landing.ingest as ingest
    import sdwh.landing.readers as readers
    from sdwh.config import Settings
    from sdwh.synth.defects import DefectRates
    from sdwh.synth.generate import generate

    settings = Settings()
    generate(settings.landing_dir, args.persons, args.quarter, args.quarter, args.seed,
             DefectRates())
    seconds: dict[str, float] = defaultdict(float)

    def timed(module, name: str, label: str) -> None:
        inner = getattr(module, name)

        def wrapper(*a, **k):
            started = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                seconds[label] += time.perf_counter() - started
        setattr(module, name, wrapper)

    timed(readers, "sha256_of", "checksum")
    timed(ingest, "read_delivered_file", "read (CSV/Parquet → Arrow)")
    timed(ingest, "with_identifier_checks", "identifier rules (numpy)")
    timed(ingest, "find_failures", "other record rules + duplicates (DuckDB)")
    timed(ingest, "_with_pseudonyms", "pseudonyms (HMAC per distinct INSZ, cached)")
    timed(ingest, "_copy", "write accepted + quarantine (harmonise, Parquet)")
    started = time.perf_counter()
    summary = ingest.ingest_all(settings)
    total = time.perf_counter() - started
    rows = summary.as_dict()["rows_in"]
    print(json.dumps({"persons": args.persons, "quarter": args.quarter, "rows": rows,
                      "seconds": round(total, 2), "rows_per_s": round(rows / total),
                      "stages": {k: round(v, 2) for k, v in seconds.items()}}, indent=2))


if __name__ == "__main__":
    main()
