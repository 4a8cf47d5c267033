"""The approved population as a restricted SQL condition (checked with sqlglot).

Only comparisons of columns with literals, combined with AND/OR/NOT, are allowed: no
functions, subqueries or casts, so the condition cannot read anything but the row it filters
and can be shown to a deliberation committee as it is.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from sdwh.errors import SdwhError

_ALLOWED = (exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.And, exp.Or,
            exp.Not, exp.Paren, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In,
            exp.Between, exp.Is, exp.Neg, exp.Tuple)


def check_population(condition: str, columns: list[str] | None = None) -> str:
    """The condition normalised to DuckDB SQL; a clear error if it is not allowed."""
    hint = ("Use comparisons of columns with values joined by and/or/not, e.g. "
            "\"age between 18 and 24 and province_refnis = '70000'\".")
    try:
        tree = sqlglot.parse_one(condition, read="duckdb")
    except ParseError as err:
        raise SdwhError(f"The population condition is not valid SQL: {str(err).splitlines()[0]}",
                        hint) from None
    for node in tree.walk():
        if not isinstance(node, _ALLOWED):
            raise SdwhError(f"The population condition may not use {node.sql('duckdb')!r} "
                            f"({type(node).__name__}).", hint)
        if isinstance(node, exp.Column) and (node.table or (
                columns is not None and node.name not in columns)):
            raise SdwhError(f"The population condition uses column {node.sql('duckdb')}, "
                            "which the dataset does not have.",
                            f"Columns: {', '.join(columns or [])}.")
    return tree.sql("duckdb")


def columns_of(condition: str) -> set[str]:
    return {c.name for c in sqlglot.parse_one(condition, read="duckdb").find_all(exp.Column)}
