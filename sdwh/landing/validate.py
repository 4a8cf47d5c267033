"""Record validation of one delivered table, in DuckDB, one pass over the rows.

Produces the temp table ``failed``: the sequence number, file and line of each row that breaks
a rule, with ``_failures``, the list of ``{field, rule}`` it breaks. Valid rows are not copied:
the caller filters them out of the Arrow table it registered as ``src``.

Also detects *systematic* faults: one rule broken by most rows means the delivery itself is
wrong (an undeclared unit, a shifted column), which rejects it whole instead of quarantining
nearly everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from sdwh.errors import DeliveryRejected
from sdwh.landing.codelists import CodeLists
from sdwh.landing.contracts import Contract
from sdwh.landing.rules import REASONS, column_rule, duplicate_rules, lit, q

SYSTEMATIC_MIN_ROWS = 10


@dataclass(frozen=True)
class RuleCount:
    field: str
    rule: str
    rows: int


def find_failures(con: duckdb.DuckDBPyConnection, contract: Contract, period: str,
                  units: dict[str, str], lists: CodeLists, prechecked: bool = False) -> None:
    """Create temp table ``failed`` from the registered Arrow table ``src``.

    ``prechecked``: ``src`` carries the numpy identifier checks
    (:func:`sdwh.landing.identifier_checks.with_identifier_checks`).

    Duplicate checks need windows over whole rows, which cost more than all other rules
    together; they run only on rows whose row or key hash occurs twice (hash equality is a
    cheap pre-filter, the windows then compare the real values). The hashes are kept in a
    narrow table (sequence number and two hashes): materialising whole rows for the
    repeated reads cost more than scanning the registered Arrow table again.
    """
    rules = [(c.name, column_rule(c, period, units.get(c.name), lists, prechecked))
             for c in contract.columns]
    rules += [("(line)", "_dup_row"), (", ".join(contract.unique), "_dup_key")]
    named = ", ".join(f"{expr} AS {q(f'_r{i}')}" for i, (_, expr) in enumerate(rules))
    failures = ", ".join(
        f"{{'field': {lit(field)}, 'rule': {q(f'_r{i}')}}}" for i, (field, _) in enumerate(rules)
    )
    dup = duplicate_rules(contract)
    any_rule = ", ".join(q(f"_r{i}") for i in range(len(rules)))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE failed AS
        WITH hashed AS (SELECT _seq, {dup.row_hash} AS _h, {dup.key_hash} AS _hk FROM src),
        candidates AS (
            SELECT _seq FROM hashed
            WHERE _h IN (SELECT _h FROM hashed GROUP BY _h HAVING count(*) > 1)
               OR _hk IN (SELECT _hk FROM hashed GROUP BY _hk HAVING count(*) > 1)),
        dups AS (SELECT _seq, {dup.repeat} AS _dup_row, {dup.clash} AS _dup_key
                 FROM src WHERE _seq IN (SELECT _seq FROM candidates)),
        ruled AS (SELECT s.*, d._dup_row, d._dup_key FROM src s LEFT JOIN dups d USING (_seq))
        SELECT _seq, _file, _row,
               list_filter([{failures}], lambda x: x.rule IS NOT NULL) AS _failures
        FROM (SELECT *, {named} FROM ruled)
        WHERE coalesce({any_rule}) IS NOT NULL""")


def count_failures(con: duckdb.DuckDBPyConnection) -> list[RuleCount]:
    rows = con.execute(
        "SELECT f.field, f.rule, count(*) FROM (SELECT unnest(_failures) AS f FROM failed) "
        "GROUP BY ALL ORDER BY 3 DESC, 1, 2").fetchall()
    return [RuleCount(*r) for r in rows]


def reject_systematic_faults(file: str, counts: list[RuleCount], rows_in: int,
                             share: float) -> None:
    """Reject the delivery when one rule fails for more than ``share`` of its rows."""
    if rows_in < SYSTEMATIC_MIN_ROWS:
        return
    for c in counts:
        if c.rows > share * rows_in:
            hint = ("The amounts look like another unit: declare it under 'units' in the "
                    "manifest (cent, eur or keur)." if c.rule == "amount_out_of_range"
                    else "The column is wrong for the whole file; check the contract.")
            raise DeliveryRejected(
                file, c.rule,
                f"column '{c.field}': {c.rows} of {rows_in} rows break rule {c.rule} "
                f"({REASONS.get(c.rule, c.rule)}), so the delivery is systematically wrong",
                hint)
