"""The policy-service API (FastAPI): catalogue, table builder and guarded SQL.

Every request but ``/health`` and the OpenAPI docs needs a token (``Authorization: Bearer``;
for CSV links a spreadsheet opens, ``?token=`` on GET as well); each token has roles and a
rate limit, and every query — answered or refused — is written to the audit log with the
policy service that asked. Data come from two read-only DuckDB files built by
``sdwh api build``: the product cubes (table builder) and the published protected tables
(guarded SQL, on a connection with external access disabled).
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio.to_thread
import duckdb
import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdwh.audit.log import audit_log
from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.query import formats
from sdwh.query.auditing import AuditUnavailable, GroupCommitAudit
from sdwh.query.cubes import cube_path, load_labels, load_meta, published_path
from sdwh.query.products import Catalogue, load_catalogue
from sdwh.query.ratelimit import RateLimiter
from sdwh.query.sqlguard import SqlRefused, check_sql
from sdwh.query.sqlrun import (
    WALL_CONFIG,
    open_published,
    run_checked,
    sql_catalogue,
    table_comments,
)
from sdwh.query.tablebuilder import Navigator, TableRequest, build_table, cube_navigator
from sdwh.query.tokens import Token, TokenStore

Format = Literal["json", "csv", "jsonstat"]
CSV_TYPE = "text/csv; charset=utf-8"
TOKEN_CACHE_SECONDS = 5.0
#: Threads for the (synchronous) endpoints. Most of a request's time is spent waiting for its
#: audit record's fsync, not on the CPU, so more threads than anyio's default 40 let 50 and more
#: concurrent clients share group commits instead of queueing for a thread.
REQUEST_THREADS = 100


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
    yield


class ApiError(Exception):
    def __init__(self, status: int, message: str, hint: str = "", rule: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint, self.rule = status, message, hint, rule
        self.headers = headers or {}


DIM = r"^[a-z][a-z0-9_]{0,39}(:[a-z][a-z0-9_]{0,39})?$"
NAME = r"^[a-z][a-z0-9_]{0,39}$"


class ErrorBody(BaseModel):
    error: str
    hint: str = ""
    rule: str | None = None


class TableBody(BaseModel):
    """The table to build (POST form of the table builder)."""

    model_config = ConfigDict(extra="forbid")
    dims: list[Annotated[str, Field(pattern=DIM)]] = Field(
        min_length=1, max_length=8, examples=[["quarter", "geo:province", "sex"]],
        description="Dimensions of the table, as 'dimension' (finest level) or "
                    "'dimension:level'.")
    measures: list[Annotated[str, Field(pattern=NAME)]] = Field(
        default=[], max_length=16, description="Measures (default: all of the product).")
    filters: dict[Annotated[str, Field(pattern=DIM)],
                  list[Annotated[str, Field(min_length=1, max_length=40)]]] = Field(
        default={}, max_length=8, examples=[{"quarter": ["2025Q1"], "geo:province": ["10000"]}],
        description="Codes to keep, per 'dimension' or 'dimension:level'.")
    totals: bool = Field(False, description="Add totals (code _T) for every dimension but "
                                            "quarter; each total is its own protected cell.")


class SqlBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(max_length=10_000, examples=[
        "SELECT quarter, sum(persons) AS persons FROM employment_by_municipality "
        "GROUP BY quarter ORDER BY quarter"],
        description="One SELECT over the published tables (GET /v1/sql/tables).")


class SqlResult(BaseModel):
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool
    max_rows: int


class Health(BaseModel):
    status: str
    products: int
    published_tables: int


@dataclass
class ApiState:
    settings: Settings
    catalogue: Catalogue
    cubes: duckdb.DuckDBPyConnection
    published: duckdb.DuckDBPyConnection
    labels: dict[str, dict[str, str]]
    meta: dict[str, str]
    sql_tables: dict[str, dict[str, str]]
    sql_comments: dict[str, str]
    navigator: Navigator
    tokens: TokenStore
    limiter: RateLimiter
    audit: GroupCommitAudit


class AnswerCache:
    """Rendered answers by request (answers are deterministic: caching only saves time)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, tuple[bytes, int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> tuple[bytes, int, int] | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: Any, value: tuple[bytes, int, int]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


def load_state(settings: Settings) -> ApiState:
    """Open the cube and published files read-only (fails clearly if not built)."""
    path = cube_path(settings)
    if not path.is_file():
        raise SdwhError(f"The product cubes {path} do not exist.", "Run `sdwh api build`.")
    cubes = duckdb.connect(str(path), read_only=True, config={
        **WALL_CONFIG, "threads": int(settings.duckdb_threads)})
    published = open_published(published_path(settings), threads=int(settings.duckdb_threads))
    return ApiState(settings=settings, catalogue=load_catalogue(), cubes=cubes,
                    published=published, labels=load_labels(cubes), meta=load_meta(cubes),
                    sql_tables=sql_catalogue(published), sql_comments=table_comments(published),
                    navigator=cube_navigator(cubes, load_catalogue()),
                    tokens=TokenStore(settings.root / "query" / "tokens.sqlite"),
                    limiter=RateLimiter(),
                    audit=GroupCommitAudit(audit_log(settings)))


def create_app(settings: Settings, state: ApiState | None = None) -> FastAPI:
    """The ASGI application (``sdwh serve api`` runs it with uvicorn on 127.0.0.1)."""
    st = state or load_state(settings)
    cache = AnswerCache(settings.api_cache_entries)
    app = FastAPI(
        lifespan=_lifespan,
        title="sdwh — standard products for policy services",
        version="1",
        description="Protected tables from the Flemish statistical data warehouse: a catalogue "
                    "of standard products, a table builder with the cell key method and a "
                    "contributor threshold, and guarded read-only SQL over published protected "
                    "tables. Authenticate with `Authorization: Bearer <token>`. Guide: "
                    "docs/policy-services.md.",
        responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody},
                   429: {"model": ErrorBody}},
    )
    app.state.api = st

    @app.exception_handler(AuditUnavailable)
    def _audit_down(request: Request, err: AuditUnavailable) -> JSONResponse:
        return JSONResponse({"error": err.message, "hint": err.hint}, status_code=503)

    @app.exception_handler(ApiError)
    def _api_error(request: Request, err: ApiError) -> JSONResponse:
        body = {"error": err.message, "hint": err.hint}
        if err.rule:
            body["rule"] = err.rule
        return JSONResponse(body, status_code=err.status, headers=err.headers)

    seen: dict[str, tuple[Token, float]] = {}

    def per_worker(limit: int) -> int:
        """This process's share of a rate limit: with N worker processes (each with its own
        buckets) a token can never exceed its limit in total."""
        return max(1, math.ceil(limit / settings.api_workers))

    def verified(presented: str) -> Token | None:
        """The token store's answer, reused for TOKEN_CACHE_SECONDS (a revocation takes
        effect within that time); only valid tokens are remembered, by their hash."""
        key = hashlib.sha256(presented.encode()).hexdigest()
        now = time.monotonic()
        hit = seen.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        token = st.tokens.verify(presented)
        if token is not None:
            if len(seen) > 10_000:
                seen.clear()
            seen[key] = (token, now + TOKEN_CACHE_SECONDS)
        return token

    def authorise(role: str) -> Callable[..., Token]:
        def dependency(request: Request) -> Token:
            header = request.headers.get("authorization", "")
            presented = header[7:].strip() if header[:7].lower() == "bearer " else ""
            if not presented and request.method == "GET":
                presented = request.query_params.get("token", "")
            token = verified(presented) if presented else None
            if token is None:
                client = request.client.host if request.client else "unknown"
                wait = st.limiter.take(f"anonymous:{client}",
                                       per_worker(settings.api_rate_limit))
                if wait > 0:  # failed attempts are limited per address, not audited one by one
                    raise ApiError(429, "Too many requests without a valid token.",
                                   f"Retry after {RateLimiter.retry_after_header(wait)} s.",
                                   headers={"Retry-After":
                                            RateLimiter.retry_after_header(wait)})
                st.audit.append("api.denied", "anonymous", path=request.url.path,
                                reason="missing or invalid token", client=client)
                raise ApiError(401, "A valid API token is required.",
                               "Send 'Authorization: Bearer <token>'; VSA issues tokens "
                               "(`sdwh api token create`).", headers={"WWW-Authenticate":
                                                                     "Bearer"})
            if role not in token.roles:
                st.audit.append("api.denied", token.service, token_id=token.id,
                                path=request.url.path, reason=f"role {role} missing")
                raise ApiError(403, f"This token does not have the '{role}' role.",
                               "Ask VSA for a token with that role.")
            limit = token.rate_limit or settings.api_rate_limit
            wait = st.limiter.take(token.id, per_worker(limit))
            if wait > 0:
                st.audit.append("api.rate_limited", token.service, token_id=token.id,
                                path=request.url.path, limit_per_minute=limit)
                raise ApiError(429, f"Rate limit of {limit} requests per minute reached.",
                               f"Retry after {RateLimiter.retry_after_header(wait)} s.",
                               headers={"Retry-After": RateLimiter.retry_after_header(wait)})
            return token
        return dependency

    @functools.lru_cache(maxsize=1024)
    def guarded(query: str) -> str | SqlRefused:
        """The guard's verdict on a query text. It depends only on the text and the published
        catalogue, which is fixed while the service runs, so a repeated query (a dashboard)
        is parsed once: parsing was most of a small query's CPU (~10 ms)."""
        try:
            return check_sql(query, st.sql_tables)
        except SqlRefused as err:
            return err

    def guard(query: str) -> str:
        verdict = guarded(query)
        if isinstance(verdict, SqlRefused):  # a fresh exception per request (thread safety)
            raise SqlRefused(verdict.rule, verdict.message, verdict.hint)
        return verdict

    tables_role = Depends(authorise("tables"))
    sql_role = Depends(authorise("sql"))

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """Liveness (no token needed)."""
        return Health(status="ok", products=len(st.catalogue.products),
                      published_tables=len(st.sql_tables))

    @app.get("/v1/products", tags=["catalogue"])
    def products(token: Token = tables_role) -> dict[str, Any]:
        """The standard products: id, title, description, dimensions, measures."""
        return {"products": [_product_summary(p) for p in st.catalogue.products],
                "quarters": st.meta.get("quarters", "").split(",")}

    @app.get("/v1/products/{product_id}", tags=["catalogue"],
             responses={404: {"model": ErrorBody}})
    def product(product_id: str, token: Token = tables_role) -> dict[str, Any]:
        """Full definition of a product: levels, measures, definitions, disclosure rules."""
        p = _product_or_404(st, product_id)
        return {**_product_summary(p), "source_model": p.source_model,
                "disclosure": p.disclosure.model_dump(),
                "dimensions": [{"id": d.id, "title": d.title, "description": d.description,
                                "levels": [{"id": lv.id, "title": lv.title} for lv in d.levels]}
                               for d in p.dimensions],
                "measures": [m.model_dump(exclude={"condition"}) for m in p.measures],
                "derived": [d.model_dump() for d in p.derived]}

    @app.get("/v1/products/{product_id}/codes/{dimension}", tags=["catalogue"],
             responses={404: {"model": ErrorBody}})
    def codes(product_id: str, dimension: str,
              level: Annotated[str | None, Query(max_length=40)] = None,
              token: Token = tables_role) -> dict[str, Any]:
        """The codes (with labels) of a dimension at a level, as they occur in the product."""
        p = _product_or_404(st, product_id)
        try:
            d = p.dimension(dimension)
            lv = d.level(level)
        except SdwhError as err:
            raise ApiError(404, err.message, err.hint) from err
        column = d.id if d.id == lv.id else f"{d.id}__{lv.id}"
        cur = st.cubes.cursor()
        try:
            values = [r[0] for r in cur.execute(
                f'SELECT DISTINCT "{column}" FROM {p.cube_table} ORDER BY 1').fetchall()]
        finally:
            cur.close()
        names = st.labels.get(lv.codelist, {})
        return {"product": p.id, "dimension": d.id, "level": lv.id,
                "codes": [{"code": c, "label": names.get(c, c)} for c in values]}

    def _table(product_id: str, body: TableBody, fmt: Format, token: Token,
               request: Request) -> Response:
        try:
            req = TableRequest(product=product_id, dims=tuple(body.dims),
                               measures=tuple(body.measures),
                               filters={k: tuple(v) for k, v in body.filters.items()},
                               totals=body.totals)
        except ValidationError as err:
            raise ApiError(400, "The table request is not valid: "
                           + "; ".join(e["msg"] for e in err.errors()), "") from err
        key = (req.cache_key(), fmt)
        hit = cache.get(key)
        details = {"token_id": token.id, "product": product_id, "dims": list(req.dims),
                   "measures": list(req.measures), "filters": body.filters,
                   "totals": req.totals, "format": fmt}
        if hit is None:
            cur = st.cubes.cursor()
            try:
                result = build_table(cur, st.catalogue, req, settings.api_max_cells,
                                     st.navigator)
            except SdwhError as err:
                st.audit.append("api.table_refused", token.service, **details,
                                reason=err.message)
                status = 404 if err.message.startswith("There is no product") else 400
                raise ApiError(status, err.message, err.hint) from err
            finally:
                cur.close()
            hit = (_render(result, fmt, st), result.n_cells, result.n_suppressed())
            cache.put(key, hit)
            cached = False
        else:
            cached = True
        st.audit.append("api.table", token.service, **details, cells=hit[1],
                        suppressed=hit[2], cached=cached)
        media = CSV_TYPE if fmt == "csv" else "application/json"
        return Response(hit[0], media_type=media)

    fmt_query = Query("json", description="json (records + metadata), csv, or jsonstat "
                                          "(JSON-stat 2.0 dataset).")

    @app.post("/v1/products/{product_id}/table", tags=["table builder"],
              responses={200: {"content": {"text/csv": {}, "application/json": {}}},
                         400: {"model": ErrorBody}, 404: {"model": ErrorBody}})
    def table_post(product_id: str, body: TableBody, request: Request,
                   format: Format = fmt_query,
                   token: Token = tables_role) -> Response:
        """Build a protected table (cell key method + contributor threshold)."""
        return _table(product_id, body, format, token, request)

    @app.get("/v1/products/{product_id}/table", tags=["table builder"],
             responses={200: {"content": {"text/csv": {}, "application/json": {}}},
                        400: {"model": ErrorBody}, 404: {"model": ErrorBody}})
    def table_get(product_id: str, request: Request,
                  dims: Annotated[str, Query(max_length=400, description=(
                      "Comma-separated 'dimension' or 'dimension:level'."),
                      examples=["quarter,geo:province"])],
                  measures: Annotated[str, Query(max_length=400)] = "",
                  filter: Annotated[list[str] | None, Query(max_length=8, description=(
                      "'dimension[:level]=code,code' (repeatable)."),
                      examples=[["quarter=2025Q1"]])] = None,
                  totals: bool = False, format: Format = fmt_query,
                  token: Annotated[str | None, Query(
                      max_length=80, description="The API token, for clients that cannot "
                                                 "send headers (spreadsheets).")] = None,
                  who: Token = tables_role) -> Response:
        """Build a protected table; the GET form gives a URL a spreadsheet can open."""
        filters: dict[str, list[str]] = {}
        for f in filter or []:
            name, sep, codes = f.partition("=")
            if not sep or not name or not codes:
                raise ApiError(400, f"The filter '{f[:80]}' is not 'dimension[:level]=codes'.",
                               "Example: filter=geo:province=10000,20001")
            filters[name.strip()] = [c.strip() for c in codes.split(",") if c.strip()]
        try:
            body = TableBody(dims=[d.strip() for d in dims.split(",") if d.strip()],
                             measures=[m.strip() for m in measures.split(",") if m.strip()],
                             filters=filters, totals=totals)
        except ValidationError as err:
            raise ApiError(400, "The table request is not valid: "
                           + "; ".join(e["msg"] for e in err.errors()), "") from err
        return _table(product_id, body, format, who, request)

    @app.get("/v1/sql/tables", tags=["guarded SQL"])
    def sql_tables(token: Token = sql_role) -> dict[str, Any]:
        """The published protected tables that guarded SQL may read, with their columns."""
        return {"tables": [{"name": t, "description": st.sql_comments.get(t, ""),
                            "columns": [{"name": c, "type": ty} for c, ty in cols.items()]}
                           for t, cols in st.sql_tables.items()],
                "max_rows": settings.api_sql_max_rows}

    @app.post("/v1/sql", tags=["guarded SQL"], response_model=SqlResult,
              responses={200: {"content": {"text/csv": {}}}, 400: {"model": ErrorBody}})
    def sql(body: SqlBody, request: Request, format: Literal["json", "csv"] = "json",
            token: Token = sql_role) -> Any:
        """Run one read-only SELECT over the published protected tables."""
        digest = hashlib.sha256(body.query.encode()).hexdigest()
        try:
            checked = guard(body.query)
        except SqlRefused as err:
            st.audit.append("api.sql_refused", token.service, token_id=token.id,
                            query=body.query, query_sha256=digest, rule=err.rule,
                            reason=err.message)
            raise ApiError(400, err.message, err.hint, rule=err.rule) from err
        try:
            answer = run_checked(st.published, checked, settings.api_sql_max_rows,
                                 settings.api_sql_timeout)
        except SdwhError as err:
            st.audit.append("api.sql_failed", token.service, token_id=token.id,
                            query=body.query, query_sha256=digest, reason=err.message)
            raise ApiError(400, err.message, err.hint, rule="execution") from err
        st.audit.append("api.sql", token.service, token_id=token.id, query=body.query,
                        query_sha256=digest, rows=len(answer.rows), truncated=answer.truncated)
        if format == "csv":
            return PlainTextResponse(_sql_csv(answer), media_type=CSV_TYPE)
        return SqlResult(columns=answer.columns, types=answer.types,
                         rows=[list(r) for r in answer.rows], truncated=answer.truncated,
                         max_rows=settings.api_sql_max_rows)

    return app


def _product_or_404(st: ApiState, product_id: str) -> Any:
    try:
        return st.catalogue.product(product_id)
    except SdwhError as err:
        raise ApiError(404, err.message, err.hint) from err


def _product_summary(p: Any) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "description": p.description,
            "dimensions": {d.id: [lv.id for lv in d.levels] for d in p.dimensions},
            "measures": [m.id for m in p.measures] + [d.id for d in p.derived]}


def _render(result: Any, fmt: str, st: ApiState) -> bytes:
    """The answer's bytes: compact UTF-8 JSON by orjson, several times faster than json.dumps
    (a municipality × quarter table at 20 quarters is about 1 MB)."""
    if fmt == "csv":
        return formats.to_csv(result, st.labels).encode()
    body = (formats.to_jsonstat(result, st.labels, st.meta) if fmt == "jsonstat"
            else formats.to_json(result, st.labels, st.meta))
    return orjson.dumps(body)


def _sql_csv(answer: Any) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(answer.columns)
    w.writerows(answer.rows)
    return buf.getvalue()
