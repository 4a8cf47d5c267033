"""The catalogue of standard products (``products.yml``): typed, validated, read once.

A product is a cube: dimensions with levels (finest first), measures that count distinct
persons meeting a condition, ratios derived from protected counts, and the disclosure rules
that apply. The YAML is trusted configuration written by VSA; requests only ever *name*
products, dimensions, levels, measures and codes from it, so no request text reaches SQL.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sdwh.errors import SdwhError

PRODUCTS_FILE = Path(__file__).with_name("products.yml")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: Placeholders a product source may use; the cube build replaces them per quarter.
QUARTER_PLACEHOLDERS = ("{quarter}", "{previous_quarter}", "{first_quarter}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Level(_Frozen):
    id: str = Field(pattern=NAME.pattern)
    title: str
    expr: str
    codelist: str


class Dimension(_Frozen):
    id: str = Field(pattern=NAME.pattern)
    title: str
    description: str = ""
    levels: tuple[Level, ...] = Field(min_length=1)

    def level(self, level_id: str | None) -> Level:
        """The named level, or the finest when none is named."""
        if level_id is None:
            return self.levels[0]
        for lv in self.levels:
            if lv.id == level_id:
                return lv
        raise SdwhError(f"Dimension '{self.id}' has no level '{level_id}'.",
                        f"Levels of '{self.id}': {', '.join(lv.id for lv in self.levels)}.")


class Measure(_Frozen):
    id: str = Field(pattern=NAME.pattern)
    title: str
    condition: str
    definition: str


class Derived(_Frozen):
    id: str = Field(pattern=NAME.pattern)
    title: str
    numerator: str
    denominator: str
    definition: str


class PTableSpec(_Frozen):
    D: int = Field(2, ge=1, le=10)
    V: float = Field(1.0, gt=0)


class DisclosureRules(_Frozen):
    unit: str = "person"
    threshold: int = Field(10, ge=1)
    ptable: PTableSpec = PTableSpec()


class Product(_Frozen):
    id: str = Field(pattern=NAME.pattern)
    title: str
    description: str
    source_model: str
    source: str
    dimensions: tuple[Dimension, ...]
    measures: tuple[Measure, ...] = Field(min_length=1)
    derived: tuple[Derived, ...] = ()
    disclosure: DisclosureRules = DisclosureRules()
    rollups: tuple[tuple[str, ...], ...] = ()
    #: Build the cube one quarter at a time (bounded memory; the source may name the quarter
    #: with the placeholders of ``QUARTER_PLACEHOLDERS``); off: one statement over all quarters.
    by_quarter: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Product:
        ids = [d.id for d in self.dimensions]
        if "quarter" not in ids:
            raise ValueError(f"product {self.id}: a 'quarter' dimension is required "
                             "(persons are counted once per quarter)")
        names = ids + [m.id for m in self.measures] + [d.id for d in self.derived]
        if len(set(names)) != len(names):
            raise ValueError(f"product {self.id}: dimension and measure ids must be unique")
        for r in self.rollups:
            if "quarter" not in r or not set(r) < set(ids):
                raise ValueError(f"product {self.id}: rollup {list(r)} must name some of the "
                                 "product's dimensions, quarter included")
        if not self.by_quarter and any(p in self.source for p in QUARTER_PLACEHOLDERS):
            raise ValueError(f"product {self.id}: a source with quarter placeholders needs "
                             "by_quarter: true")
        measures = {m.id for m in self.measures}
        for d in self.derived:
            if not {d.numerator, d.denominator} <= measures:
                raise ValueError(f"product {self.id}: derived {d.id} uses an unknown measure")
        return self

    def dimension(self, dim_id: str) -> Dimension:
        for d in self.dimensions:
            if d.id == dim_id:
                return d
        raise SdwhError(f"Product '{self.id}' has no dimension '{dim_id}'.",
                        f"Dimensions: {', '.join(d.id for d in self.dimensions)}.")

    def measure_ids(self) -> list[str]:
        return [m.id for m in self.measures]

    @property
    def cube_table(self) -> str:
        return f"cube_{self.id}"

    def rollup_table(self, index: int) -> str:
        return f"cube_{self.id}__r{index}"

    def level_columns(self, dims: tuple[str, ...]) -> list[str]:
        """Cube columns of every level of the named dimensions."""
        return [column_name(d.id, lv.id) for d in self.dimensions if d.id in dims
                for lv in d.levels]

    def cube_columns(self) -> list[tuple[str, str]]:
        """(column name in the cube, trusted SQL expression) for every level of every dimension."""
        return [(column_name(d.id, lv.id), lv.expr) for d in self.dimensions for lv in d.levels]


class Codelist(_Frozen):
    seed: str | None = None
    seeds: tuple[str, ...] = ()
    code: str = "code"
    label: str = "label"
    values: dict[str, str] = {}
    extra: dict[str, str] = {}
    from_data: bool = False


class Catalogue(_Frozen):
    version: int
    products: tuple[Product, ...]
    codelists: dict[str, Codelist]

    def product(self, product_id: str) -> Product:
        for p in self.products:
            if p.id == product_id:
                return p
        raise SdwhError(f"There is no product '{product_id}'.",
                        f"Products: {', '.join(p.id for p in self.products)}.")


def column_name(dim_id: str, level_id: str) -> str:
    """The cube column holding a dimension's level (names are validated identifiers)."""
    return dim_id if dim_id == level_id else f"{dim_id}__{level_id}"


def parse_catalogue(raw: dict[str, Any]) -> Catalogue:
    """Resolve shared dimensions and defaults, then validate everything."""
    shared = raw.get("dimensions", {})
    defaults = raw.get("disclosure", {})
    products = []
    for p in raw.get("products", []):
        dims = []
        for d in p.get("dimensions", []):
            if isinstance(d, str):
                if d not in shared:
                    raise SdwhError(f"products.yml: product {p.get('id')} names unknown shared "
                                    f"dimension '{d}'.", "Define it under 'dimensions:'.")
                d = {"id": d, **shared[d]}
            dims.append(d)
        products.append({**p, "dimensions": dims,
                         "disclosure": {**defaults, **p.get("disclosure", {})}})
    try:
        cat = Catalogue(version=raw.get("version", 1), products=products,
                        codelists=raw.get("codelists", {}))
    except ValueError as err:
        raise SdwhError(f"products.yml is not valid: {err}", "Fix the catalogue file.") from err
    for p in cat.products:
        for d in p.dimensions:
            for lv in d.levels:
                if lv.codelist not in cat.codelists:
                    raise SdwhError(f"products.yml: level {p.id}.{d.id}.{lv.id} names unknown "
                                    f"code list '{lv.codelist}'.", "Add it under 'codelists:'.")
    return cat


@cache
def load_catalogue(path: Path = PRODUCTS_FILE) -> Catalogue:
    """The catalogue from ``products.yml`` (cached: it is configuration, not data)."""
    return parse_catalogue(yaml.safe_load(path.read_text(encoding="utf-8")))
