"""Record rules as DuckDB SQL: one expression per column that yields a reason code or NULL.

Pure string building (no I/O). Each column type of a contract has one rule; the reason codes
are the vocabulary of the quarantine and of ``docs/landing.md``. Expressions read the raw
VARCHAR value of the column (``"col"``) and may use the code-list tables loaded by
:mod:`sdwh.landing.codelists`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdwh.landing.codelists import CodeLists
from sdwh.landing.contracts import EUROS_PER_UNIT, Column, Contract
from sdwh.landing.identifier_checks import CHECKED_TYPES, check_column

#: Every reason code a record can be quarantined with, and what it means.
REASONS: dict[str, str] = {
    "missing_value": "a required field is empty",
    "insz_malformed": "national number is not 11 digits",
    "insz_check_digit": "national number fails the mod-97 check (either century form)",
    "insz_date_invalid": "national number encodes an impossible day",
    "bis_month_invalid": "BIS number month is outside 20–32 and 40–52",
    "kbo_invalid": "enterprise number fails its format or mod-97 check",
    "rsz_employer_invalid": "RSZ employer number fails its format, range or check digits",
    "refnis_unknown": "municipality code is not a Flemish REFNIS code of any vintage",
    "refnis_not_valid_for_period": "municipality code did not exist in the reference period",
    "nace_unknown": "NACE division is not in the version valid for the period",
    "code_unknown": "code is not in the contract's code list",
    "type_integer": "not a whole number",
    "type_decimal": "not a number",
    "type_date": "not a date in the contract's format",
    "type_amount": "not an amount",
    "out_of_range": "value outside the contract's range",
    "amount_out_of_range": "amount, converted to euros, outside the contract's range",
    "period_mismatch": "row's period differs from the manifest's reference period",
    "pattern_mismatch": "value does not match the contract's pattern",
    "duplicate_row": "exact repeat of an earlier line in the same delivery",
    "duplicate_key": "another line has the same key but different content",
    "csv_field_count": "line has a different number of fields than the header",
    "sample_unknown": "the row names a sample the TTP never drew",
    "sample_period_mismatch": "the named sample answers another reference quarter",
    "sample_key_unknown": "no TTP sample issued this sample key",
    "sample_key_foreign": "the sample key was issued for another sample than the one named",
}


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A SQL literal for a string or number from a contract (never from data)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def insz_rule(v: str, reference_year: int) -> str:
    """SQL twin of :func:`sdwh.identifiers.check_insz`."""
    body, cc, month = f"substr({v},1,9)", f"substr({v},10,2)::INT", f"substr({v},3,2)::INT"
    born_2000 = (f"(2000 + substr({v},1,2)::INT <= {reference_year} AND "
                 f"97 - ('2' || {body})::BIGINT % 97 = {cc})")
    return (
        f"CASE WHEN NOT regexp_full_match({v}, '[0-9]{{11}}') THEN 'insz_malformed' "
        f"WHEN 97 - {body}::BIGINT % 97 <> {cc} AND NOT {born_2000} "
        f"THEN 'insz_check_digit' "
        f"WHEN substr({v},5,2)::INT > 31 THEN 'insz_date_invalid' "
        f"WHEN {month} <= 12 OR {month} BETWEEN 20 AND 32 OR {month} BETWEEN 40 AND 52 THEN NULL "
        f"ELSE 'bis_month_invalid' END"
    )


def insz_kind(v: str) -> str:
    return f"CASE WHEN substr({v},3,2)::INT <= 12 THEN 'rr' ELSE 'bis' END"


def kbo_rule(v: str) -> str:
    return (
        f"CASE WHEN NOT regexp_full_match({v}, '[01][0-9]{{9}}') THEN 'kbo_invalid' "
        f"WHEN 97 - substr({v},1,8)::BIGINT % 97 <> substr({v},9,2)::INT THEN 'kbo_invalid' END"
    )


def rsz_employer_rule(v: str) -> str:
    radix, check = f"substr({v},1,7)::BIGINT", f"substr({v},8,2)::INT"
    return (
        f"CASE WHEN NOT regexp_full_match({v}, '[0-9]{{9}}') THEN 'rsz_employer_invalid' "
        f"WHEN {v}::BIGINT NOT BETWEEN 100006 AND 199999934 THEN 'rsz_employer_invalid' "
        f"WHEN CASE WHEN (96 - ({radix} * 100) % 97) = 0 THEN 97 "
        f"ELSE 96 - ({radix} * 100) % 97 END <> {check} THEN 'rsz_employer_invalid' END"
    )


def in_list(v: str, codes) -> str:
    return f"{v} IN ({', '.join(lit(c) for c in codes)})"


def refnis_rule(v: str, period_year: int, lists: CodeLists) -> str:
    """Codes must exist in the vintage of the period; pre-merger codes in 2025+ periods are
    accepted (they are harmonised), post-merger codes before 2025 are not."""
    if period_year >= 2025:
        known = sorted({*lists.refnis_2025, *lists.refnis_merger, *lists.refnis_2019})
        return f"CASE WHEN {in_list(v, known)} THEN NULL ELSE 'refnis_unknown' END"
    return (
        f"CASE WHEN {in_list(v, lists.refnis_2019)} THEN NULL "
        f"WHEN {in_list(v, lists.refnis_2025)} THEN 'refnis_not_valid_for_period' "
        f"ELSE 'refnis_unknown' END"
    )


def harmonised_refnis(v: str, period_year: int, lists: CodeLists) -> str:
    """From 2025 on, map pre-merger codes to their 2025 municipality."""
    if period_year < 2025:
        return v
    cases = " ".join(f"WHEN {lit(old)} THEN {lit(new)}"
                     for old, new in sorted(lists.refnis_merger.items()) if old != new)
    return f"CASE {v} {cases} ELSE {v} END"


def nace_version(period: str) -> str:
    """NACE-BEL 2008 up to 2024, NACE-BEL 2025 (on NACE Rev. 2.1) from 2025 on."""
    return "2025" if int(period[:4]) >= 2025 else "2008"


def range_rule(expr: str, bounds: tuple, reason: str, cast: str = "") -> str:
    lo, hi = (f"{lit(b)}{cast}" for b in bounds)
    return f"CASE WHEN {expr} NOT BETWEEN {lo} AND {hi} THEN '{reason}' END"


def typed_value(col: Column, unit: str | None = None) -> str:
    """The SQL that parses a (valid) raw value into its stored type."""
    v = q(col.name)
    match col.type:
        case "integer":
            return f"try_cast({v} AS BIGINT)"
        case "decimal":
            return f"try_cast({v} AS DOUBLE)"
        case "date":
            return f"try_strptime({v}, {lit(col.format)})::DATE"
        case "amount":
            factor = EUROS_PER_UNIT[unit or col.unit or "eur"]
            return f"CAST(round(try_cast({v} AS DOUBLE) * {factor}, 2) AS DECIMAL(14,2))"
        case _:
            return v


def column_rule(col: Column, period: str, unit: str | None, lists: CodeLists,
                prechecked: bool = False) -> str:
    """One CASE expression giving the first broken rule of ``col``'s value, or NULL.

    ``prechecked``: identifier columns were checked in numpy already (see
    :mod:`sdwh.landing.identifier_checks`); read that result instead of the SQL twin.
    """
    v = q(col.name)
    empty = f"({v} IS NULL OR trim({v}) = '')"
    typed = typed_value(col, unit)
    match col.type:
        case t if prechecked and t in CHECKED_TYPES:
            check = q(check_column(col.name))
        case "sample_key":  # resolved at the TTP only (sdwh.sampling.sample_keys)
            check = q(check_column(col.name))
        case "insz":
            check = insz_rule(v, int(period[:4]))
        case "kbo":
            check = kbo_rule(v)
        case "rsz_employer":
            check = rsz_employer_rule(v)
        case "refnis":
            check = refnis_rule(v, int(period[:4]), lists)
        case "nace":
            nace = lists.nace[nace_version(period)]
            check = f"CASE WHEN NOT {in_list(v, nace)} THEN 'nace_unknown' END"
        case "code":
            codes = lists.codes(col.codelist, col.column)
            check = f"CASE WHEN NOT {in_list(v, codes)} THEN 'code_unknown' END"
        case "integer" | "decimal" | "date":
            bad_type = f"CASE WHEN {typed} IS NULL THEN 'type_{col.type}' END"
            cast = "::DATE" if col.type == "date" else ""
            in_range = range_rule(typed, col.range, "out_of_range", cast) if col.range else "NULL"
            check = f"coalesce({bad_type}, {in_range})"
        case "amount":
            bad_type = f"CASE WHEN {typed} IS NULL THEN 'type_amount' END"
            check = f"coalesce({bad_type}, {range_rule(typed, col.range, 'amount_out_of_range')})"
        case "period":
            check = f"CASE WHEN {v} <> {lit(period)} THEN 'period_mismatch' END"
        case "string":
            check = (f"CASE WHEN NOT regexp_full_match({v}, {lit(col.pattern)}) "
                     f"THEN 'pattern_mismatch' END") if col.pattern else "NULL"
    missing = "'missing_value'" if col.required else "NULL"
    return f"CASE WHEN {empty} THEN {missing} ELSE {check} END"


@dataclass(frozen=True)
class DuplicateRules:
    """SQL for duplicates within one delivery: cheap hashes to find candidate rows, and the
    window expressions that compare candidates' real values."""

    row_hash: str
    key_hash: str
    repeat: str
    clash: str


def duplicate_rules(contract: Contract) -> DuplicateRules:
    every = ", ".join(q(c) for c in contract.column_names)
    key = ", ".join(q(c) for c in contract.unique)
    return DuplicateRules(
        row_hash=f"hash({every})",
        key_hash=f"hash({key})",
        repeat=(f"CASE WHEN row_number() OVER (PARTITION BY {every} ORDER BY _seq) > 1 "
                f"THEN 'duplicate_row' END"),
        clash=(f"CASE WHEN count(*) OVER (PARTITION BY {key}) > count(*) OVER (PARTITION BY "
               f"{every}) THEN 'duplicate_key' END"),
    )
