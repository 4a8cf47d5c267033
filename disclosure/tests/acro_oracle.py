"""Runs inside a separate interpreter that has ``acro`` (it pins pandas < 3, see docs).

Usage: python acro_oracle.py CSV REQUEST_JSON → prints one JSON object.
Request: {"kind": "crosstab", "row": r, "col": c, "values": v|null, "aggfunc": a|null,
"suppress": bool, "margins": bool}. Output: the table (split orient) and ACRO's cell lists.
"""

import json
import sys

import pandas as pd
from acro import ACRO


def main() -> None:
    df = pd.read_csv(sys.argv[1])
    req = json.loads(sys.argv[2])
    acro = ACRO(suppress=req.get("suppress", False))
    kwargs = {"margins": req.get("margins", False)}
    if req.get("values"):
        kwargs |= {"values": df[req["values"]], "aggfunc": req["aggfunc"]}
    table = acro.crosstab(df[req["row"]], df[req["col"]], **kwargs)
    record = list(acro.results.results.values())[-1]
    sdc = record.sdc
    print(json.dumps({"table": json.loads(table.to_json(orient="split")),
                      "status": record.status, "cells": sdc.get("cells", {}),
                      "summary": sdc.get("summary", {})}))


if __name__ == "__main__":
    main()
