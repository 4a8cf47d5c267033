"""DCAT-AP (Flemish profile, DCAT-AP VL) for every release, dataset and distribution.

The catalogue is meant to be harvested by the Flemish open-data catalogue, not to be a portal
of its own: one Turtle file, written with rdflib, checked with pyshacl against the shapes in
``shapes.ttl`` (written from the DCAT-AP 3 / DCAT-AP VL requirements). Open VOS datasets carry
the licence "Modellicentie Gratis Hergebruik"; restricted research datasets are described too
(their existence is public, their microdata are not): access rights NON_PUBLIC, no download,
an access URL that explains how to request a project.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, XSD

from sdwh.publish.indicators import INDICATORS

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
EU = "http://publications.europa.eu/resource/authority/"
LICENCE_URI = URIRef(
    "https://data.vlaanderen.be/id/licentie/modellicentie-gratis-hergebruik/v1.0")
PUBLIC = URIRef(EU + "access-right/PUBLIC")
NON_PUBLIC = URIRef(EU + "access-right/NON_PUBLIC")
QUARTERLY = URIRef(EU + "frequency/QUARTERLY")
THEME_ECON = URIRef(EU + "data-theme/ECON")
THEME_SOCI = URIRef(EU + "data-theme/SOCI")
FLANDERS = URIRef("http://publications.europa.eu/resource/authority/atu/BEL_REG_VLG")
PUBLISHER = URIRef("https://data.vlaanderen.be/id/organisatie/OVO000018")  # Statistiek Vl.
#: format → (file type authority code, IANA media type, specification it conforms to)
FORMATS = {
    "csv": ("CSV", "text/csv", None),
    "parquet": ("PARQUET", "application/vnd.apache.parquet", None),
    "sdmx.csv": ("CSV", "text/csv", "https://sdmx.org/?page_id=5008"),
    "dsd.xml": ("XML", "application/xml", "https://sdmx.org/?page_id=5008"),
    "jsonstat.json": ("JSON", "application/json", "https://json-stat.org/format/"),
}
#: thematic models offered to accredited researchers (restricted research datasets)
RESEARCH_DATASETS = (
    ("thm_labour_market_panel", "Labour-market panel (person × quarter)",
     "Arbeidsmarktpanel (persoon × kwartaal)",
     "One row per person and quarter: socio-economic position, jobs, benefits, jobseeker "
     "status, education, residence. Pseudonymised microdata for accredited research projects."),
    ("thm_quarterly_transitions", "Quarterly labour-market transitions",
     "Kwartaalovergangen op de arbeidsmarkt",
     "One row per person and pair of consecutive quarters: position before and after "
     "(work-to-work, into and out of unemployment)."),
    ("thm_neet_youth", "NEET youth", "NEET-jongeren",
     "Young people not in employment, education or training, per quarter."),
    ("thm_school_to_work", "School-to-work transitions", "Van school naar werk",
     "School leavers followed over their first quarters on the labour market."),
)


def shapes_graph() -> Graph:
    text = resources.files("sdwh.catalog").joinpath("shapes.ttl").read_text()
    return Graph().parse(data=text, format="turtle")


def _lit(text: str, lang: str = "en") -> Literal:
    return Literal(text, lang=lang)


def build_catalog(releases: list[dict[str, Any]], base_url: str) -> Graph:
    """The catalogue graph: open datasets per indicator with one distribution per format and
    release, plus the restricted research datasets."""
    base = base_url.rstrip("/")
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("vcard", VCARD),
                       ("adms", ADMS)):
        g.bind(prefix, ns)
    cat = URIRef(f"{base}/catalog")
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, _lit("Statistiek Vlaanderen — statistical data warehouse",
                                    "en")))
    g.add((cat, DCTERMS.title, _lit("Statistiek Vlaanderen — statistisch datawarehuis", "nl")))
    g.add((cat, DCTERMS.description, _lit(
        "Flemish official statistics (VOS), open data and restricted research datasets of the "
        "statistical data warehouse of Statistiek Vlaanderen.")))
    g.add((cat, DCTERMS.publisher, PUBLISHER))
    g.add((cat, FOAF.homepage, URIRef(f"{base}/site/index.html")))
    g.add((cat, DCTERMS.license, LICENCE_URI))
    _agent(g)
    contact = URIRef(f"{base}/contact")
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, Literal("Statistiek Vlaanderen")))
    g.add((contact, VCARD.hasEmail, URIRef("mailto:statistiek@vlaanderen.be")))
    latest = releases[-1] if releases else None
    for ind in INDICATORS:
        ds = URIRef(f"{base}/dataset/{ind.id}")
        g.add((cat, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.identifier, Literal(f"sdwh:{ind.id}")))
        g.add((ds, DCTERMS.title, _lit(ind.title, "en")))
        g.add((ds, DCTERMS.title, _lit(ind.title_nl, "nl")))
        g.add((ds, DCTERMS.description, _lit(ind.description)))
        g.add((ds, DCTERMS.publisher, PUBLISHER))
        g.add((ds, DCAT.contactPoint, contact))
        g.add((ds, DCTERMS.accessRights, PUBLIC))
        g.add((ds, DCAT.theme, THEME_ECON))
        g.add((ds, DCTERMS.spatial, FLANDERS))
        g.add((ds, DCTERMS.accrualPeriodicity, QUARTERLY))
        g.add((ds, DCAT.landingPage, URIRef(f"{base}/site/{ind.id}.html")))
        for kw in ind.keywords:
            g.add((ds, DCAT.keyword, Literal(kw)))
        for supplier, dataset in ind.sources:
            g.add((ds, DCTERMS.source, URIRef(f"{base}/source/{supplier}/{dataset}")))
        if latest is None:
            continue
        g.add((ds, DCTERMS.issued, Literal(latest["issued"], datatype=XSD.date)))
        g.add((ds, OWL.versionInfo, Literal(latest["release"])))
        first, last = latest["indicators"][ind.id]["quarters"]
        period = BNode(f"period-{ind.id}")
        g.add((ds, DCTERMS.temporal, period))
        g.add((period, RDF.type, DCTERMS.PeriodOfTime))
        g.add((period, DCAT.startDate, Literal(_quarter_start(first), datatype=XSD.date)))
        g.add((period, DCAT.endDate, Literal(_quarter_end(last), datatype=XSD.date)))
        for rel in releases:
            for suffix, (ftype, media, spec) in FORMATS.items():
                url = f"{base}/releases/{rel['release']}/{ind.id}/{ind.id}.{suffix}"
                dist = URIRef(url + "#distribution")
                g.add((ds, DCAT.distribution, dist))
                g.add((dist, RDF.type, DCAT.Distribution))
                g.add((dist, DCTERMS.title, _lit(f"{ind.title} — release {rel['release']} "
                                                 f"({suffix})")))
                g.add((dist, DCAT.accessURL, URIRef(url)))
                g.add((dist, DCAT.downloadURL, URIRef(url)))
                g.add((dist, DCTERMS.license, LICENCE_URI))
                g.add((dist, DCTERMS.format, URIRef(EU + "file-type/" + ftype)))
                g.add((dist, DCAT.mediaType,
                       URIRef("https://www.iana.org/assignments/media-types/" + media)))
                g.add((dist, DCTERMS.issued, Literal(rel["issued"], datatype=XSD.date)))
                if spec:
                    g.add((dist, DCTERMS.conformsTo, URIRef(spec)))
                sha = rel.get("files", {}).get(f"{ind.id}/{ind.id}.{suffix}")
                if sha:
                    g.add((dist, URIRef("http://spdx.org/rdf/terms#checksum"),
                           Literal(f"sha256:{sha}")))
    for model, title, title_nl, description in RESEARCH_DATASETS:
        ds = URIRef(f"{base}/dataset/research/{model}")
        g.add((cat, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.identifier, Literal(f"sdwh:{model}")))
        g.add((ds, DCTERMS.title, _lit(title, "en")))
        g.add((ds, DCTERMS.title, _lit(title_nl, "nl")))
        g.add((ds, DCTERMS.description, _lit(description)))
        g.add((ds, DCTERMS.publisher, PUBLISHER))
        g.add((ds, DCAT.contactPoint, contact))
        g.add((ds, DCTERMS.accessRights, NON_PUBLIC))
        g.add((ds, DCAT.theme, THEME_SOCI))
        g.add((ds, DCTERMS.spatial, FLANDERS))
        g.add((ds, DCTERMS.accrualPeriodicity, QUARTERLY))
        dist = URIRef(f"{base}/dataset/research/{model}#access")
        g.add((ds, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCTERMS.title, _lit("Access for accredited research projects (remote "
                                         "enclave; no download)")))
        g.add((dist, DCAT.accessURL, URIRef(f"{base}/site/access.html")))
        g.add((dist, DCTERMS.accessRights, NON_PUBLIC))
    return g


def _agent(g: Graph) -> None:
    g.add((PUBLISHER, RDF.type, FOAF.Agent))
    g.add((PUBLISHER, FOAF.name, Literal("Statistiek Vlaanderen", lang="nl")))
    g.add((PUBLISHER, DCTERMS.type,
           URIRef("http://purl.org/adms/publishertype/RegionalAuthority")))


def _quarter_start(q: str) -> str:
    return f"{q[:4]}-{3 * (int(q[5]) - 1) + 1:02d}-01"


def _quarter_end(q: str) -> str:
    month = 3 * int(q[5])
    day = {3: 31, 6: 30, 9: 30, 12: 31}[month]
    return f"{q[:4]}-{month:02d}-{day}"


def validate(g: Graph) -> tuple[bool, str]:
    """pyshacl against our DCAT-AP VL shapes; returns (conforms, report text)."""
    from pyshacl import validate as shacl

    conforms, _, text = shacl(g, shacl_graph=shapes_graph(), inference="none",
                              abort_on_first=False, allow_warnings=True)
    return bool(conforms), str(text)


def release_docs(releases_root: Path) -> list[dict[str, Any]]:
    """release.json of every complete release, oldest first."""
    if not releases_root.is_dir():
        return []
    out = []
    for folder in sorted(releases_root.iterdir()):
        doc = folder / "release.json"
        if folder.name.startswith(".") or not doc.is_file():
            continue
        out.append(json.loads(doc.read_text()))
    return out
