"""What is published: the VOS indicators, their measures, dimensions and metadata (pure data).

Each indicator reads one model of ``models/publication``. A *cell* is one row of that model
(one quarter × its breakdown keys); its *measures* are published counts and rates. Disclosure
control works on the count tables listed in ``protected``: a rate is published only when the
cell's counts are, and each count's complement (e.g. residents not working) is protected too,
so neither a small group nor "everyone" / "no-one" in a group can be read off a published cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Measure:
    """A published value of a cell: a count column, or a rate of two counts."""

    id: str
    label: str
    unit: str
    column: str | None = None  # count column in the model
    numerator: str | None = None  # rate = 100 × numerator / denominator (measure ids)
    denominator: str | None = None

    @property
    def is_rate(self) -> bool:
        return self.numerator is not None


@dataclass(frozen=True)
class CountTable:
    """A frequency table that disclosure control protects: ``plus`` − ``minus`` per cell.

    ``units`` names the column with the distinct persons behind the count (units of
    disclosure are persons, not rows).
    """

    id: str
    plus: str
    minus: str | None = None
    units: str | None = None


@dataclass(frozen=True)
class Dimension:
    id: str  # SDMX/JSON-stat dimension id
    column: str  # column in the model
    label: str


@dataclass(frozen=True)
class Indicator:
    id: str
    model: str
    title: str
    title_nl: str
    description: str
    population: str
    dimensions: tuple[Dimension, ...]
    measures: tuple[Measure, ...]
    protected: tuple[CountTable, ...]
    #: columns that split the model into independent tables (no published total across them)
    table_by: tuple[str, ...]
    #: how cells add up: "sex_geo" (T = M + F; municipality ⊂ arrondissement ⊂ province ⊂
    #: region) or "breakdowns" (every breakdown's categories add up to the total)
    additivity: str
    sources: tuple[tuple[str, str], ...]
    methodology: str
    keywords: tuple[str, ...] = field(default=())
    headline: dict[str, str] = field(default_factory=dict)  # cell shown in charts

    def measure(self, measure_id: str) -> Measure:
        return next(m for m in self.measures if m.id == measure_id)


SEX = Dimension("SEX", "sex_code", "Sex (M, F, T = total)")
AGE = Dimension("AGE", "age_band", "Age band")
GEO = Dimension("GEO", "geo_refnis", "Area (REFNIS 2025 code)")
GEO_LEVEL = Dimension("GEO_LEVEL", "geo_level", "Level of the area")

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        id="employment_rate",
        model="pub_employment_rate",
        title="Employment rate by sex, age band and area",
        title_nl="Werkzaamheidsgraad naar geslacht, leeftijd en gebied",
        description="Share of residents aged 15-64 who work (as employee, self-employed or "
        "helper) on the last day of the quarter, by sex, five-year age band and area "
        "(municipality, arrondissement, province, Flemish Region).",
        population="Residents of the Flemish Region aged 15-64 on the last day of the quarter "
        "(national register).",
        dimensions=(SEX, AGE, GEO_LEVEL, GEO),
        measures=(
            Measure("EMPLOYED", "Working residents", "persons", column="numerator"),
            Measure("POPULATION", "Residents", "persons", column="denominator"),
            Measure("EMPLOYMENT_RATE", "Employment rate", "percent",
                    numerator="EMPLOYED", denominator="POPULATION"),
        ),
        protected=(
            CountTable("EMPLOYED", "numerator", units="n_persons_numerator"),
            CountTable("POPULATION", "denominator", units="n_persons_denominator"),
            CountTable("NOT_EMPLOYED", "denominator", "numerator"),
        ),
        table_by=("quarter", "age_band"),
        additivity="sex_geo",
        sources=(("rr", "population"), ("rsz", "dmfa_employment_lines"),
                 ("rsvz", "selfemployed")),
        methodology="Position on the last day of the quarter by the socio-economic position "
        "priority rule of the DWH AM&SB (employee and self-employed jobs before benefits). "
        "Residence from the national register; areas in the 2025 municipal boundaries.",
        keywords=("werkzaamheidsgraad", "employment", "arbeidsmarkt"),
        headline={"sex_code": "T", "geo_refnis": "02000"},
    ),
    Indicator(
        id="nwwz",
        model="pub_nwwz",
        title="Non-working jobseekers (NWWZ) by characteristic",
        title_nl="Niet-werkende werkzoekenden (NWWZ) naar kenmerk",
        description="Non-working jobseekers aged 18-64 registered with VDAB at the end of the "
        "quarter and the administrative unemployment rate (NWWZ / labour force), by age band, "
        "sex, education level, nationality group, origin group and unemployment duration.",
        population="Residents of the Flemish Region aged 18-64 in the labour force (working "
        "or NWWZ) at the end of the quarter.",
        dimensions=(Dimension("BREAKDOWN", "breakdown", "Breakdown"),
                    Dimension("CATEGORY", "category", "Category of the breakdown")),
        measures=(
            Measure("NWWZ", "Non-working jobseekers", "persons", column="numerator"),
            Measure("LABOUR_FORCE", "Labour force", "persons", column="denominator"),
            Measure("NWWZ_RATE", "Administrative unemployment rate", "percent",
                    numerator="NWWZ", denominator="LABOUR_FORCE"),
        ),
        protected=(
            CountTable("NWWZ", "numerator", units="n_persons_numerator"),
            CountTable("LABOUR_FORCE", "denominator", units="n_persons_denominator"),
            CountTable("WORKING", "denominator", "numerator"),
        ),
        table_by=("quarter",),
        additivity="breakdowns",
        sources=(("vdab", "jobseekers"), ("rr", "population"),
                 ("rsz", "dmfa_employment_lines"), ("rsvz", "selfemployed"),
                 ("ahovoks", "qualifications")),
        methodology="VDAB's NWWZ definition (categories of the WZW group 'NWWZ') at the "
        "snapshot of the quarter's last month. Education level from VDAB, completed with "
        "AHOVOKS qualifications; origin from the national register's nationality history. "
        "The duration breakdown has no labour-force denominator.",
        keywords=("NWWZ", "werkzoekenden", "werkloosheid", "VDAB"),
        headline={"breakdown": "total", "category": "total"},
    ),
    Indicator(
        id="work_shares",
        model="pub_work_shares",
        title="Self-employment and part-time shares by sex, age band and province",
        title_nl="Aandeel zelfstandigen en deeltijds werkenden naar geslacht, leeftijd en "
        "provincie",
        description="Share of self-employed (main job) among working residents aged 20-64 and "
        "share of part-time employees among employees, by sex, age band, province and region.",
        population="Working residents of the Flemish Region aged 20-64 on the last day of "
        "the quarter.",
        dimensions=(SEX, AGE, GEO_LEVEL, GEO),
        measures=(
            Measure("WORKING", "Working residents", "persons", column="n_working"),
            Measure("SELF_EMPLOYED", "Self-employed (main job)", "persons",
                    column="n_self_employed"),
            Measure("SELF_EMPLOYMENT_SHARE", "Self-employment share", "percent",
                    numerator="SELF_EMPLOYED", denominator="WORKING"),
            Measure("EMPLOYEES", "Employees", "persons", column="n_employees"),
            Measure("PARTTIME", "Part-time employees", "persons",
                    column="n_parttime_employees"),
            Measure("PARTTIME_SHARE", "Part-time share", "percent",
                    numerator="PARTTIME", denominator="EMPLOYEES"),
        ),
        protected=(
            CountTable("WORKING", "n_working"),
            CountTable("SELF_EMPLOYED", "n_self_employed"),
            CountTable("NOT_SELF_EMPLOYED", "n_working", "n_self_employed"),
            CountTable("EMPLOYEES", "n_employees"),
            CountTable("PARTTIME", "n_parttime_employees"),
            CountTable("FULLTIME", "n_employees", "n_parttime_employees"),
        ),
        table_by=("quarter", "age_band"),
        additivity="sex_geo",
        sources=(("rr", "population"), ("rsz", "dmfa_employment_lines"),
                 ("rsvz", "selfemployed")),
        methodology="Main job by the socio-economic position rule; part-time when the "
        "cumulated working time of a person's DmfA employee lines is below 100 %.",
        keywords=("zelfstandigen", "deeltijds", "self-employment", "part-time"),
        headline={"sex_code": "T", "geo_refnis": "02000"},
    ),
)


def indicator(indicator_id: str) -> Indicator:
    """The indicator with this id (raises KeyError)."""
    for ind in INDICATORS:
        if ind.id == indicator_id:
            return ind
    raise KeyError(indicator_id)
