"""Guarded SQL: admit one read-only SELECT over catalogued tables and columns, nothing else.

The first wall (this module, pure logic). The query text is checked character by character,
parsed by sqlglot, and every node of the tree must be of an allowed kind: SELECT and set
operations, joins with a join condition, WHERE/GROUP BY/HAVING/ORDER BY/LIMIT, column
references that resolve to catalogued tables (sqlglot's qualifier, which also resolves CTEs
and subqueries), literals, operators, CASE/CAST and a short list of scalar and aggregate
functions. Anything else — table functions (read_csv, read_parquet, glob, range …), file
names as tables, ATTACH/COPY/PRAGMA/INSTALL/LOAD/SET/CALL, a second statement, recursive
CTEs, cross/positional/natural joins — is refused with the rule it broke. The SQL that runs is
regenerated from the checked tree, never the user's text, so comments and parser differences
between sqlglot and DuckDB cannot smuggle anything through.

The second wall is the connection (``sdwh.query.sqlrun``): read-only, external access
disabled, configuration locked, a memory limit and a timeout.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify

from sdwh.errors import SdwhError

logging.getLogger("sqlglot").setLevel(logging.ERROR)

MAX_QUERY_CHARS = 10_000
MAX_TABLE_REFERENCES = 4
MAX_NODES = 2_000

#: Catalogue: table name → {column name → DuckDB type}.
SqlCatalogue = Mapping[str, Mapping[str, str]]


class SqlRefused(SdwhError):
    """A query the guard does not admit; ``rule`` names the rule it broke."""

    def __init__(self, rule: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint or "Only one SELECT over the published tables is allowed; "
                         "GET /v1/sql/tables lists them.")
        self.rule = rule


_STRUCTURE = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.From, exp.Join, exp.Where,
    exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Distinct,
    exp.With, exp.CTE, exp.Subquery, exp.Table, exp.TableAlias, exp.Alias, exp.Column,
    exp.Identifier, exp.Star, exp.Paren, exp.Tuple, exp.Qualify,
)
_VALUES = (exp.Literal, exp.Boolean, exp.Null, exp.DataType, exp.Cast, exp.TryCast,
           exp.DataTypeParam)
_OPERATORS = (
    exp.And, exp.Or, exp.Not, exp.Xor, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.In, exp.Between, exp.Like, exp.ILike, exp.Add, exp.Sub,
    exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.DPipe, exp.Case, exp.If, exp.Coalesce,
    exp.Nullif, exp.Exists, exp.Any, exp.All,
)
_FUNCTIONS = (
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Median, exp.Stddev, exp.StddevPop,
    exp.StddevSamp, exp.Variance, exp.VariancePop, exp.Round, exp.Abs, exp.Floor, exp.Ceil,
    exp.Sqrt, exp.Ln, exp.Log, exp.Pow, exp.Greatest, exp.Least, exp.Lower, exp.Upper,
    exp.Length, exp.Substring, exp.Trim, exp.Concat, exp.Left, exp.Right, exp.StartsWith,
    exp.Replace, exp.Window, exp.WindowSpec, exp.RowNumber, exp.Filter, exp.CountIf,
    exp.Sign,
)
ALLOWED_NODES: tuple[type[exp.Expression], ...] = _STRUCTURE + _VALUES + _OPERATORS + _FUNCTIONS
#: Functions sqlglot does not model (exp.Anonymous) that are safe: pure scalar arithmetic.
ALLOWED_ANONYMOUS = frozenset({"round", "greatest", "least", "abs", "coalesce", "nullif"})
_BAD_JOINS = {"CROSS", "POSITIONAL", "ASOF", "NATURAL", "ANTI", "SEMI"}


def check_characters(query: str) -> None:
    """Refuse control, format and non-ASCII characters outside quoted string literals.

    Inside a literal, letters such as 'é' are fine; invisible format characters (zero-width
    space, bidi overrides) are refused everywhere, as they make a query read differently from
    what runs.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise SqlRefused("length", f"The query has {len(query):,} characters; at most "
                         f"{MAX_QUERY_CHARS:,} are allowed.")
    in_literal = False
    for pos, ch in enumerate(query):
        if ch == "'":
            in_literal = not in_literal  # '' inside a literal toggles twice: still inside
            continue
        cat = unicodedata.category(ch)
        if ch not in "\t\n\r" and cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise SqlRefused("characters", f"The query contains the invisible or control "
                             f"character U+{ord(ch):04X} at position {pos + 1}.",
                             "Retype the query in plain text.")
        if not in_literal and not (ch.isascii() and (ch.isprintable() or ch in "\t\n\r")):
            raise SqlRefused("characters", f"The query contains the character {ch!r} "
                             f"(U+{ord(ch):04X}) at position {pos + 1} outside a string literal.",
                             "Use plain ASCII for SQL keywords, names and punctuation.")


def parse_one_select(query: str) -> exp.Expression:
    """Exactly one statement, and it is a query (SELECT or a set operation of SELECTs)."""
    try:
        statements = [s for s in sqlglot.parse(query, dialect="duckdb") if s is not None]
    except (ParseError, SqlglotError, RecursionError, ValueError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise SqlRefused("parse", f"The query could not be parsed: {first}.",
                         "Check the SQL syntax (DuckDB dialect).") from err
    if not statements:
        raise SqlRefused("empty", "The query is empty.", "Send one SELECT statement.")
    if len(statements) > 1:
        raise SqlRefused("multiple_statements", f"The query holds {len(statements)} statements; "
                         "only one is allowed.", "Send a single SELECT, without ';' between "
                         "statements.")
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.Union | exp.Intersect | exp.Except):
        words = query.split()
        kind = "".join(ch for ch in words[0] if ch.isalnum())[:20].upper() if words else "?"
        raise SqlRefused("not_select", f"Only SELECT queries are allowed, not {kind}.")
    return tree


def _check_nodes(tree: exp.Expression, catalogue: SqlCatalogue) -> None:
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables = 0
    for count, node in enumerate(tree.walk()):
        if count > MAX_NODES:
            raise SqlRefused("too_complex", f"The query has more than {MAX_NODES} parts.",
                             "Write a simpler query.")
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            if name not in ALLOWED_ANONYMOUS:
                raise SqlRefused("function", f"The function {name}() is not allowed.",
                                 "Allowed: aggregates (count, sum, avg, min, max, median), "
                                 "round, abs, coalesce, string functions, CASE and CAST.")
            continue
        if isinstance(node, exp.Table):
            tables += _check_table(node, catalogue, ctes)
            continue
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise SqlRefused("recursive_cte", "Recursive CTEs (WITH RECURSIVE) are not allowed.")
        if isinstance(node, exp.Join):
            _check_join(node)
        if isinstance(node, exp.Func) and not isinstance(node, _FUNCTIONS + _OPERATORS
                                                         + _VALUES):
            name = node.sql_name().lower() if hasattr(node, "sql_name") else type(node).__name__
            raise SqlRefused("function", f"The function {name}() is not allowed.",
                             "Allowed: aggregates (count, sum, avg, min, max, median), round, "
                             "abs, coalesce, string functions, CASE and CAST.")
        if not isinstance(node, ALLOWED_NODES):
            raise SqlRefused("construct", f"The SQL construct {type(node).__name__} is not "
                             "allowed.", "Use plain SELECT … FROM … WHERE … GROUP BY … ORDER BY.")
        for key in ("exclude", "replace", "rename"):
            if isinstance(node, exp.Star) and node.args.get(key):
                raise SqlRefused("construct", f"SELECT * {key.upper()} is not allowed.",
                                 "Name the columns.")
    if tables > MAX_TABLE_REFERENCES:
        raise SqlRefused("too_many_tables", f"The query reads {tables} tables; at most "
                         f"{MAX_TABLE_REFERENCES} references are allowed.")


def _check_table(node: exp.Table, catalogue: SqlCatalogue, ctes: set[str]) -> int:
    if not isinstance(node.this, exp.Identifier):
        name = node.this.sql_name() if isinstance(node.this, exp.Func) else type(node.this)
        raise SqlRefused("table_function", f"Table functions such as {name} are not allowed "
                         "in FROM.", "Read from the published tables only.")
    if node.args.get("catalog") or (node.args.get("db") and node.db.lower() != "main"):
        raise SqlRefused("schema", f"Only tables of the published catalogue can be read, "
                         f"not {node.sql(dialect='duckdb')}.")
    for key in ("joins", "laterals", "pivots", "sample", "version", "when"):
        if node.args.get(key):
            raise SqlRefused("construct", f"{key.upper()} on a table is not allowed.")
    name = node.name.lower()
    if name in ctes:
        return 0
    if name not in catalogue:
        raise SqlRefused("unknown_table", f"There is no published table '{node.name}'.",
                         f"Published tables: {', '.join(sorted(catalogue))}.")
    return 1


def _check_join(node: exp.Join) -> None:
    kind = " ".join(str(node.args.get(k) or "").upper() for k in ("method", "side", "kind"))
    bad = _BAD_JOINS & set(kind.split())
    if bad:
        raise SqlRefused("join", f"{sorted(bad)[0]} JOIN is not allowed.",
                         "Join tables with an explicit ON or USING condition.")
    on = node.args.get("on")
    equi = on is not None and any(isinstance(eq.left, exp.Column) and isinstance(eq.right,
                                                                                exp.Column)
                                  for eq in on.find_all(exp.EQ))
    if not node.args.get("using") and not equi:
        raise SqlRefused("join", "A join needs an equality between columns in ON, or USING; "
                         "a join without one is a cross join, which is not allowed.",
                         "Join tables with ON a.column = b.column or USING (column).")


def check_sql(query: str, catalogue: SqlCatalogue) -> str:
    """The SQL to run for ``query``, regenerated from its checked tree; or SqlRefused."""
    check_characters(query)
    tree = parse_one_select(query)
    _check_nodes(tree, catalogue)
    schema = {t: dict(cols) for t, cols in catalogue.items()}
    try:
        qualified = qualify(tree, schema=schema, dialect="duckdb", validate_qualify_columns=True,
                            quote_identifiers=True, identify=True)
    except (OptimizeError, SqlglotError, KeyError, ValueError, RecursionError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise SqlRefused("unknown_column", f"The query names something that is not in the "
                         f"published catalogue: {first}.",
                         "GET /v1/sql/tables lists the tables and their columns.") from err
    _check_nodes(qualified, catalogue)
    return qualified.sql(dialect="duckdb", comments=False)
