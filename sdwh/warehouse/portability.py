"""Is the compiled warehouse SQL portable to Spark and Trino? A sqlglot lint, not a translator.

sqlglot transpiles DuckDB SQL that Spark then rejects or, worse, runs with another meaning
(reference/warehouse/REPORT.md §4.4: `date_diff('year')`, `age()`), so it is used here only to
check. A compiled model passes when

* it parses in its own dialect, and its syntax tree can be written and re-parsed in the
  DuckDB, Spark and Trino dialects;
* every function it calls is in ``PORTABLE_FUNCTIONS`` (same name and meaning on all three
  engines), or is emitted by a dispatched macro implementation for the engine it was
  compiled for (``<engine>__name`` or ``default__name`` in this project, dbt or the adapter);
* the model's own text and the project's non-dispatched macros call only portable functions,
  so an engine-specific function can only enter through ``adapter.dispatch``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

DIALECTS = ("duckdb", "spark", "trino")

#: Functions with the same name and meaning in DuckDB, Spark SQL and Trino (sqlglot's names;
#: boolean connectives and CASE are expressions sqlglot models as functions).
PORTABLE_FUNCTIONS = frozenset({
    "and", "or", "not", "case", "if", "cast", "try_cast", "coalesce", "nullif",
    "count", "sum", "min", "max", "avg",
    "row_number", "rank", "dense_rank", "lead", "lag", "first_value", "last_value",
    "abs", "floor", "ceil", "round", "sign", "sqrt", "power", "ln", "exp",
    "lower", "upper", "trim", "length", "substring", "replace", "concat",
    "extract", "current_date", "greatest", "least", "mod",
})

#: How each engine reads the raw store (source config, not model SQL): DuckDB's
#: external_location renders read_parquet(); Spark reads parquet.`path`; Trino a Hive table.
SOURCE_FUNCTIONS = {"duckdb": frozenset({"read_parquet"}), "spark": frozenset(),
                    "trino": frozenset()}

_CALL = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(", re.IGNORECASE)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_SQL_COMMENT = re.compile(r"--[^\n]*")
_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\((.*?)\)\s*-?%\}(.*?)\{%-?\s*endmacro\s*-?%\}",
                    re.DOTALL)
#: Words followed by "(" in SQL that are not function calls, and type names with a size.
_NOT_CALLS = frozenset({
    "in", "over", "as", "exists", "values", "on", "using", "from", "join", "select", "where",
    "when", "then", "else", "by", "filter", "within", "with", "union", "all", "between", "is",
    "distinct", "not", "and", "or", "table", "lateral", "partition", "decimal", "numeric",
    "varchar", "char", "interval", "rows", "range", "returns", "macro", "ref", "source",
    "config", "var", "return",
})


@dataclass(frozen=True)
class Problem:
    """One portability problem of one compiled model (or macro)."""

    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.node}: {self.message}"


def function_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def functions_in(sql: str, dialect: str) -> set[str]:
    """Names of the functions a statement calls (parse errors propagate)."""
    tree = sqlglot.parse_one(sql, read=dialect)
    return {function_name(f) for f in tree.find_all(exp.Func)}


def calls_in_text(text: str) -> set[str]:
    """Function-call names written directly in SQL text (Jinja and comments removed)."""
    plain = _SQL_COMMENT.sub(" ", _JINJA.sub(" ", text))
    return {m.lower() for m in _CALL.findall(plain)} - _NOT_CALLS


def sql_function_names(name: str) -> set[str]:
    """The name a function has in a macro's text and in sqlglot's tree (e.g. substr/substring)."""
    try:
        return functions_in(f"select {name}(1)", "duckdb") | {name}
    except sqlglot.errors.ParseError:
        return {name}


def macros_in(text: str) -> dict[str, str]:
    """Macro name -> body, for every macro defined in a .sql file."""
    return {m.group(1): m.group(3) for m in _MACRO.finditer(text)}


def dispatched_functions(macro_files: Iterable[Path], engine: str) -> set[str]:
    """Functions emitted by ``<engine>__*`` and ``default__*`` macro implementations."""
    found: set[str] = set()
    for path in macro_files:
        for name, body in macros_in(path.read_text(errors="replace")).items():
            if name.startswith((f"{engine}__", "default__")):
                for call in calls_in_text(body):
                    found |= sql_function_names(call)
    return found


def allowed_functions(engine: str, macro_files: Iterable[Path]) -> set[str]:
    return set(PORTABLE_FUNCTIONS) | SOURCE_FUNCTIONS[engine] | dispatched_functions(
        macro_files, engine)


def check_compiled(node: str, sql: str, engine: str, allowed: set[str]) -> list[Problem]:
    """Parse in every dialect (via the engine's tree) and check functions against ``allowed``."""
    try:
        tree = sqlglot.parse_one(sql, read=engine)
    except sqlglot.errors.ParseError as err:
        return [Problem(node, f"does not parse as {engine}: {str(err)[:300]}")]
    problems = []
    portable_tree = _without_source_functions(tree)
    for dialect in DIALECTS:
        try:
            text = portable_tree.sql(dialect=dialect, unsupported_level=ErrorLevel.IGNORE)
            sqlglot.parse_one(text, read=dialect)
        except sqlglot.errors.ParseError as err:
            problems.append(Problem(node, f"does not re-parse as {dialect}: {str(err)[:300]}"))
    used = {function_name(f) for f in tree.find_all(exp.Func)}
    problems += [Problem(node, f"function {name}() is neither portable nor from a dispatched "
                               f"macro for {engine}") for name in sorted(used - allowed)]
    return problems


def _without_source_functions(tree: exp.Expression) -> exp.Expression:
    """The tree with DuckDB's read_parquet() source replaced by a table name: each engine
    reads the raw store its own way (SOURCE_FUNCTIONS), which is configuration, not SQL."""
    tree = tree.copy()
    for node in list(tree.find_all(exp.ReadParquet)):
        target = node.parent if isinstance(node.parent, exp.Table) else node
        target.replace(exp.to_table("raw_store.source"))
    return tree


def check_written(node: str, text: str) -> list[Problem]:
    """Model text or a non-dispatched macro body may call only portable functions."""
    bad = sorted(n for n in calls_in_text(text) if not sql_function_names(n) & PORTABLE_FUNCTIONS)
    return [Problem(node, f"calls {name}() directly; engine-specific SQL belongs in a "
                          "dispatched macro (adapter.dispatch)") for name in bad]


def plain_macros(macro_files: Iterable[Path]) -> dict[str, str]:
    """Project macros that are neither dispatchers nor engine implementations."""
    plain = {}
    for path in macro_files:
        for name, body in macros_in(path.read_text()).items():
            if "__" in name or "adapter.dispatch" in body:
                continue
            plain[f"{path.name}:{name}"] = body
    return plain
