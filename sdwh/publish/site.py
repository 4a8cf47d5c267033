"""``sdwh site``: the static publication site under $SDWH_HOME/site (no network at run time).

Pages: one per indicator (chart, table of the latest quarter, metadata, downloads), the
release calendar, the supplier timeliness dashboard and a data-quality summary from the
delivery register, and the data-error form. Charts are SVG drawn server-side by matplotlib
(text kept as text, fixed hash salt, no date): no JavaScript, no external asset, and the same
release gives the same bytes. Styles are inline.
"""

from __future__ import annotations

import html
import io
import json
import os
import shutil
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from sdwh.config import Settings, get_settings
from sdwh.console import console, emit
from sdwh.errors import SdwhError
from sdwh.publish.cells import quarter_index
from sdwh.publish.indicators import INDICATORS, Indicator
from sdwh.publish.release import existing_releases, planned_date, releases_dir

CSS = """body{font-family:system-ui,sans-serif;margin:0;color:#1d1d1b;background:#fff}
header{background:#ffe615;padding:1rem 2rem}header a{color:#1d1d1b;margin-right:1rem}
main{padding:1rem 2rem;max-width:70rem}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.flag{color:#a00}dt{font-weight:bold}
figure{margin:1rem 0}label{display:block;margin-top:.5rem}"""


def _page(title: str, body: str) -> str:
    nav = "".join(f'<a href="{ind.id}.html">{html.escape(ind.title_nl)}</a>'
                  for ind in INDICATORS)
    return (f'<!doctype html><html lang="nl"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f'<header><a href="index.html"><b>Statistiek Vlaanderen</b></a>{nav}'
            f'<a href="calendar.html">Kalender</a><a href="timeliness.html">Tijdigheid</a>'
            f'<a href="quality.html">Kwaliteit</a><a href="feedback.html">Fout melden</a>'
            f"</header><main><h1>{html.escape(title)}</h1>{body}</main></body></html>\n")


def chart_svg(series: pd.DataFrame, title: str, ylabel: str, bars: bool = False) -> str:
    """Line chart of series over quarters (suppressed points are gaps), or bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "sdwh"
    plt.rcParams["svg.fonttype"] = "none"
    fig, ax = plt.subplots(figsize=(7, 3))
    for label, part in series.groupby("series", sort=True):
        if bars:
            ax.bar(part["quarter"], part["value"], label=str(label))
        else:
            ax.plot(part["quarter"], part["value"], marker="o", label=str(label))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if series["series"].nunique() > 1:
        ax.legend(fontsize="small")
    fig.autofmt_xdate()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _headline(ind: Indicator, table: pd.DataFrame) -> pd.DataFrame:
    rate = next(m for m in ind.measures if m.is_rate)
    sel = table[table["measure"] == rate.id]
    for col, val in ind.headline.items():
        sel = sel[sel[col].astype(str) == val]
    if ind.id == "nwwz":
        sel = sel.assign(series="total")
    elif "age_band" in sel:
        sel = sel[sel["age_band"].isin(["25-29", "40-44", "55-59"])].assign(
            series=lambda d: d["age_band"])
    return sel[["quarter", "value", "series"]].sort_values(["series", "quarter"])


def _latest_table(ind: Indicator, table: pd.DataFrame, quarter: str) -> str:
    sel = table[table["quarter"] == quarter]
    if "geo_level" in sel:
        sel = sel[sel["geo_level"].isin(["region", "province"]) & (sel["sex_code"] == "T")]
    keys = [d.column for d in ind.dimensions if d.column in sel and d.column != "geo_level"]
    measures = [m.id for m in ind.measures if m.id in set(sel["measure"])]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "".join(
        f"<th>{html.escape(ind.measure(m).label)}</th>" for m in measures)
    rows = []
    for idx, part in sel.groupby(keys, sort=True):
        idx_t = idx if isinstance(idx, tuple) else (idx,)
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in idx_t)
        by_measure = {r.measure: r for r in part.itertuples(index=False)}
        for m in measures:
            r = by_measure.get(m)
            if r is not None and r.suppressed:
                cells += '<td class="flag">c</td>'
            elif r is None or pd.isna(r.value):
                cells += "<td>–</td>"
            elif ind.measure(m).unit == "percent":
                cells += f"<td>{r.value:.1f}</td>"
            else:
                cells += f"<td>{int(r.value):,}</td>".replace(",", ".")
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def indicator_page(ind: Indicator, release: str, folder: Path) -> str:
    table = pd.read_parquet(folder / ind.id / f"{ind.id}.parquet")
    meta = json.loads((folder / ind.id / "metadata.json").read_text())
    latest = max(table["quarter"])
    rate = next(m for m in ind.measures if m.is_rate)
    svg = chart_svg(_headline(ind, table), rate.label + " (Vlaams Gewest)", "%")
    downloads = "".join(
        f'<li><a href="releases/{release}/{ind.id}/{ind.id}.{suffix}">{label}</a></li>'
        for suffix, label in (("csv", "CSV (tidy, with flags)"), ("parquet", "Parquet"),
                              ("sdmx.csv", "SDMX-CSV 2.0"), ("dsd.xml", "SDMX DSD"),
                              ("jsonstat.json", "JSON-stat 2.0")))
    sources = "".join(
        f"<li>{html.escape(s['supplier_name'])} — {html.escape(s['dataset'])}: periods "
        f"{' – '.join(s['reference_periods'])}, median delivery lag {s['median_lag_days']} "
        f"days, accepted rows {s['coverage_rows_accepted_share']}</li>"
        for s in meta["sources"])
    body = (f"<p>{html.escape(ind.description)}</p>"
            f"<figure>{svg}<figcaption>Release {release}; quarters marked provisional "
            f"may be revised.</figcaption></figure>"
            f"<h2>{html.escape(latest)}</h2>"
            f"{_latest_table(ind, table, latest)}"
            "<p>c = confidential (suppressed by disclosure control)</p>"
            f"<h2>Metadata</h2><dl><dt>Population</dt><dd>{html.escape(ind.population)}</dd>"
            f"<dt>Methodology</dt><dd>{html.escape(ind.methodology)}</dd>"
            f"<dt>Disclosure control</dt><dd>{html.escape(meta['sdc']['method'])}; at least "
            f"{meta['sdc']['threshold_distinct_persons']} distinct persons per cell and per "
            f"complement</dd><dt>Licence</dt><dd>{html.escape(meta['licence'])}</dd>"
            f"<dt>Sources</dt><dd><ul>{sources}</ul></dd></dl>"
            f"<h2>Downloads</h2><ul>{downloads}</ul>"
            f'<p><a href="feedback.html?dataset={ind.id}">Report an error in this dataset</a>'
            "</p>")
    return _page(ind.title_nl, body)


def calendar_page(releases: list[str], latest: str) -> str:
    nxt = []
    q = quarter_index(latest)
    for k in range(1, 5):
        year, quarter = divmod(q + k, 4)
        nxt.append(f"{year}Q{quarter + 1}")
    rows = "".join(f"<tr><td>{r}</td><td>{planned_date(r).isoformat()}</td><td>published</td>"
                   "</tr>" for r in releases)
    rows += "".join(f"<tr><td>{r}</td><td>{planned_date(r).isoformat()}</td><td>planned</td>"
                    "</tr>" for r in nxt)
    return _page("Releasekalender", "<p>A quarter is released on the first Monday at least "
                 "120 days after it ends.</p><table><tr><th>release</th><th>date</th>"
                 f"<th>status</th></tr>{rows}</table>")


def timeliness_pages(settings: Settings) -> tuple[str, str]:
    from sdwh.deliveries import register
    from sdwh.deliveries.timeliness import bottleneck, timeliness

    if not settings.register_path.exists():
        raise SdwhError(f"no delivery register at {settings.register_path}.",
                        "Run `sdwh ingest` first.")
    with register.open_register(settings.register_path) as reg:
        rows = register.all_deliveries(reg)
        reasons = register.reasons_for(reg)
    summary = timeliness(rows)
    neck = bottleneck(summary)
    head = ("<tr><th>supplier</th><th>dataset</th><th>periods</th><th>due (days)</th>"
            "<th>median lag</th><th>worst lag</th><th>on time</th><th>rejected</th>"
            "<th>revisions</th></tr>")
    body = "".join(
        f"<tr><td>{s['supplier']}</td><td>{s['dataset']}</td><td>{s['periods']}</td>"
        f"<td>{s['due_days']}</td><td>{s['median_lag_days']}</td><td>{s['worst_lag_days']}"
        f"</td><td>{_share(s['share_on_time'])}"
        f"</td><td>{s['rejected']}</td><td>{s['revisions']}</td></tr>" for s in summary)
    chart = chart_svg(pd.DataFrame(
        [{"quarter": f"{r['supplier']}/{r['dataset']}", "value": r["median_lag_days"],
          "series": "median lag (days)"} for r in summary]), "Median delivery lag", "days",
        bars=True)
    neck_text = (f"<p>Bottleneck: <b>{neck['supplier']} {neck['dataset']}</b> (median lag "
                 f"{neck['median_lag_days']} days).</p>" if neck else "")
    timeliness_html = _page("Tijdigheid van de leveranciers",
                            f"{neck_text}<figure>{chart}</figure><table>{head}{body}</table>")
    q_rows = "".join(
        f"<tr><td>{s['supplier']}</td><td>{s['dataset']}</td><td>{s['rows_in']:,}</td>"
        f"<td>{s['rows_quarantined']:,}</td><td>"
        f"{(s['rows_quarantined'] / s['rows_in'] if s['rows_in'] else 0):.2%}</td></tr>"
        for s in summary)
    r_rows = "".join(f"<tr><td>{r['supplier']}</td><td>{r['dataset']}</td><td>{r['field']}</td>"
                     f"<td>{r['rule']}</td><td>{r['rows']:,}</td></tr>" for r in reasons)
    quality_html = _page(
        "Datakwaliteit",
        "<h2>Rows quarantined per supplier dataset</h2><table><tr><th>supplier</th>"
        "<th>dataset</th><th>rows in</th><th>quarantined</th><th>share</th></tr>"
        f"{q_rows}</table><h2>Reasons</h2><table><tr><th>supplier</th><th>dataset</th>"
        f"<th>field</th><th>rule</th><th>rows</th></tr>{r_rows}</table>")
    return timeliness_html, quality_html


def _share(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


def feedback_page(action: str) -> str:
    options = "".join(f'<option value="{i.id}">{html.escape(i.title_nl)}</option>'
                      for i in INDICATORS)
    return _page("Fout in de data melden", (
        "<p>Found an error in a published dataset or variable? Tell us; VSA staff review "
        "every report, and a fix is linked to the release that corrected it.</p>"
        f'<form method="post" action="{html.escape(action)}" id="feedback">'
        f'<label>Dataset <select name="dataset" required>{options}</select></label>'
        '<label>Variable <input name="variable"></label>'
        '<label>Quarter <input name="quarter" pattern="\\d{4}Q[1-4]"></label>'
        '<label>What is wrong? <textarea name="description" required minlength="10">'
        "</textarea></label>"
        '<label>Your e-mail (optional) <input name="reporter" type="email"></label>'
        '<button type="submit">Send</button></form>'))


def build_site(settings: Settings, feedback_url: str = "/feedback") -> dict[str, Any]:
    """Write the whole site into a temp folder, then swap it in."""
    releases = existing_releases(settings)
    if not releases:
        raise SdwhError("there is no release to show.", "Run `sdwh publish --release …` first.")
    latest = releases[-1]
    folder = releases_dir(settings) / latest
    out = settings.root / "site"
    tmp = settings.root / f".site-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pages = {}
    for ind in INDICATORS:
        pages[f"{ind.id}.html"] = indicator_page(ind, latest, folder)
    items = "".join(f'<li><a href="{i.id}.html">{html.escape(i.title_nl)}</a> — '
                    f"{html.escape(i.title)}</li>" for i in INDICATORS)
    pages["index.html"] = _page("Vlaamse officiële statistieken: arbeidsmarkt",
                                f"<p>Latest release: <b>{latest}</b> (issued "
                                f"{planned_date(latest).isoformat()}).</p><ul>{items}</ul>"
                                '<p><a href="catalog.ttl">DCAT-AP catalogue</a></p>')
    pages["calendar.html"] = calendar_page(releases, latest)
    pages["timeliness.html"], pages["quality.html"] = timeliness_pages(settings)
    pages["feedback.html"] = feedback_page(feedback_url)
    pages["access.html"] = _page("Toegang voor onderzoekers", (
        "<p>Research datasets (microdata) are not downloadable. Accredited researchers get "
        "a project in the remote enclave; see the researcher guide.</p>"))
    for name, text in pages.items():
        (tmp / name).write_text(text, encoding="utf-8")
    shutil.copytree(folder, tmp / "releases" / latest)
    catalog = settings.root / "catalog" / "catalog.ttl"
    if catalog.is_file():
        shutil.copy(catalog, tmp / "catalog.ttl")
    old = settings.root / f".site-old-{os.getpid()}"
    if out.exists():
        os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    return {"site": str(out), "pages": sorted(pages), "release": latest}


def site(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
         = False,
         feedback_url: Annotated[str, typer.Option(
             "--feedback-url", help="Where the error form posts (sdwh feedback serve).")]
         = "http://127.0.0.1:8765/feedback") -> None:
    """Build the static site from the latest release and the delivery register."""
    payload = build_site(get_settings(), feedback_url)
    emit(payload, as_json, lambda p: console.print(
        f"{len(p['pages'])} pages for release {p['release']} in {p['site']}"))
