#!/usr/bin/python3
"""Checks of the health report and the GeoJSON that tests/live/report_browser.sh wrote into OUT.

Debian's python3 with python3-html5lib, python3-shapely and python3-geojson; chromium.
Every check prints one line; the first failure stops with exit status 1.
"""
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import geojson
import html5lib
from shapely.geometry import shape

OUT = Path(sys.argv[1])
SECTIONS = [
    ("summary", "Summary"),
    ("index-usage", "Index sizes and usage"),
    ("unused-indexes", "Unused indexes"),
    ("duplicate-indexes", "Duplicate indexes"),
    ("invalid-indexes", "Invalid indexes"),
    ("index-bloat", "Index bloat"),
    ("reindex", "Reindex history"),
    ("refresh", "Refresh status"),
    ("accident-stats", "Accident statistics"),
    ("hotspots", "Accident hotspots"),
]
# Every element the report writes, with the attributes it may carry.
ALLOWED = {
    "html": {"lang"}, "head": set(), "meta": {"charset", "http-equiv", "content", "name"},
    "title": set(), "style": set(), "body": set(), "header": set(), "h1": set(),
    "p": {"class"}, "section": {"id"}, "h2": set(), "h3": set(), "ul": {"class"}, "li": set(),
    "span": {"class"}, "a": {"href"}, "table": set(), "thead": set(), "tbody": set(),
    "tr": set(), "th": {"class"}, "td": {"class"}, "code": set(), "footer": set(),
    "svg": {"viewBox", "class", "role", "aria-label"},
    "rect": {"x", "y", "width", "height", "class", "fill"},
    "text": {"x", "y", "class", "text-anchor"},
    "line": {"x1", "y1", "x2", "y2", "class"},
    "polyline": {"points", "class"},
    "circle": {"cx", "cy", "r", "class", "fill"},
}
HOSTILE = ["<img src=x onerror=alert(1)>", "</style><script>", "<b onmouseover=alert(2)>",
           "flaky <script>boom</script>", "dup \"quoted\" <i>", "t&amp;\"x'"]
failures = 0


def check(ok, what):
    global failures
    print(("  ok   " if ok else "  FAIL ") + what)
    if not ok:
        failures += 1
        sys.exit(1)


def local(tag):
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else None


def text_of(el):
    return "".join(el.itertext())


def parse(path):
    """Strict HTML5 parse (any parse error raises), HTML elements without namespace."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        doc = parser.parse(path.read_text(encoding="utf-8"))
    except html5lib.html5parser.ParseError as e:
        check(False, f"{path.name}: strict HTML5 parse: {e}")
    check(True, f"{path.name}: parses with html5lib strict=True (no parse error)")
    return doc


def check_elements(doc, name):
    seen = {}
    for el in doc.iter():
        tag = local(el.tag)
        if tag is None:  # comments
            check(False, f"{name}: no comment nodes")
        if tag not in ALLOWED:
            check(False, f"{name}: element <{tag}> is one the report writes")
        for attr, value in el.attrib.items():
            a = local(attr)
            if a not in ALLOWED[tag]:
                check(False, f"{name}: attribute {a}={value!r} on <{tag}> is one the report writes")
            if a == "href" and not value.startswith("#"):
                check(False, f"{name}: link {value!r} stays in the page")
            seen.setdefault(tag, set()).add(a)
    styles = [el for el in doc.iter() if local(el.tag) == "style"]
    check(len(styles) == 1, f"{name}: exactly one <style> element")
    check(all(local(el.tag) in ALLOWED for el in doc.iter()),
          f"{name}: {sum(1 for _ in doc.iter())} elements, every tag and attribute in the allowlist "
          f"({len(seen)} kinds of element)")
    raw = (OUT / name).read_text(encoding="utf-8")
    check(not re.search(r"https?:|://|url\(|@import|javascript:", raw, re.I),
          f"{name}: no URL, url(), @import or javascript: anywhere in the page")


def section(doc, sid):
    for el in doc.iter():
        if local(el.tag) == "section" and el.get("id") == sid:
            return el
    check(False, f"section #{sid} present")


def tables(sec):
    out = []
    for t in sec.iter():
        if local(t.tag) == "table":
            rows = []
            for tr in t.iter():
                if local(tr.tag) == "tr":
                    cells = [text_of(c) for c in tr if local(c.tag) == "td"]
                    if cells:
                        rows.append(cells)
            out.append(rows)
    return out


def num(s):
    return int(s.replace(",", "")) if s.strip() else None


def check_sections(doc, name):
    for sid, title in SECTIONS:
        sec = section(doc, sid)
        h2 = [text_of(h) for h in sec if local(h.tag) == "h2"]
        summary = [text_of(p) for p in sec if local(p.tag) == "p" and "summary" in (p.get("class") or "")]
        check(h2 == [title] and len(summary) == 1 and len(summary[0]) > 10,
              f"{name}: section #{sid} '{title}' with a summary line: {summary[0][:110] if summary else ''}")


def summary_of(doc, sid):
    sec = section(doc, sid)
    return [text_of(p) for p in sec if local(p.tag) == "p"][0]


def main_report(exp):
    name = "report.html"
    doc = parse(OUT / name)
    check_elements(doc, name)
    check_sections(doc, name)
    alltext = text_of(doc)
    for h in HOSTILE:
        check(h in alltext, f"{name}: hostile name {h!r} shown as text")
    # Index usage: every index of index_usage() with its scans and bytes.
    rows = tables(section(doc, "index-usage"))[0]
    page = {(r[0], r[2].removesuffix(" (invalid)")): (num(r[4]), num(r[6]), r[7]) for r in rows}
    want = {(u["schema"], u["index"]): (u["scans"], u["bytes"], u["size"]) for u in exp["usage"]}
    check(page == want, f"{name}: index usage table = index_usage() ({len(want)} indexes, scans, bytes, sizes)")
    for sid, key, fn in [("unused-indexes", "unused", "unused_indexes"),
                         ("duplicate-indexes", "duplicates", "duplicate_indexes"),
                         ("invalid-indexes", "invalid", "invalid_indexes")]:
        codes = [text_of(c) for c in section(doc, sid).iter() if local(c.tag) == "code"]
        want = [s for s in (exp[key] or []) if s is not None]
        check(codes == want and len(want) > 0,
              f"{name}: {sid} drop statements = ntsb_perf.{fn}() ({len(want)}: {want[0][:60]}...)")
    rows = tables(section(doc, "index-bloat"))[0]
    page = [(r[1], num(r[4])) for r in rows]
    want = [(b["index"], b["reclaimable"]) for b in exp["bloat"]]
    check(page == want, f"{name}: bloat table = index_bloat_report(NULL, 0, 50) in order ({len(want)} indexes)")
    rows = tables(section(doc, "accident-stats"))[0]
    page = sorted((int(r[0]), num(r[1]), num(r[2])) for r in rows)
    want = [(y["year"], y["accidents"], y["fatal"]) for y in exp["years"]]
    check(page == want, f"{name}: yearly accidents and fatal accidents = count(*) per year over events "
                        f"({len(want)} years, {sum(w[1] for w in want)} accidents)")
    rows = tables(section(doc, "hotspots"))[0]
    page = [(int(r[0]), num(r[3]), num(r[4])) for r in rows]
    want = [(h["rank"], h["accidents"], h["fatal"]) for h in exp["hotspots"]]
    check(page == want and len(want) == 25, f"{name}: hotspot table = hotspot_cells(accident_hotspots(.., 50, 25))")
    circles = [el for el in section(doc, "hotspots").iter() if local(el.tag) == "circle"]
    check(len(circles) == 25, f"{name}: the map draws 25 cells")
    rows = tables(section(doc, "reindex"))[0]
    check(sum(1 for r in rows if r[3] == "done") == exp["reindex_done"] >= 1,
          f"{name}: reindex history lists the {exp['reindex_done']} finished rebuild(s)")
    check(exp["refresh_failed"] >= 1 and "1 last run failed" in summary_of(doc, "refresh")
          and "flaky <script>boom</script>" in text_of(section(doc, "refresh")),
          f"{name}: refresh summary: {summary_of(doc, 'refresh')}")
    check("secret_private_idx" in alltext, f"{name}: a superuser sees the private table's index")
    return doc


def other_reports():
    doc = parse(OUT / "report_reader.html")
    check_elements(doc, "report_reader.html")
    check_sections(doc, "report_reader.html")
    s = summary_of(doc, "index-bloat")
    check("pg_stat_scan_tables" in s, f"report_reader.html: bloat section says why: {s}")
    alltext = text_of(doc)
    check("secret_private_idx" not in alltext, "report_reader.html: another role's private index is not shown")
    check("idx_events_geom" in alltext, "report_reader.html: the indexes of events (readable) are shown")
    doc = parse(OUT / "report_hostile_schema.html")
    check_elements(doc, "report_hostile_schema.html")
    rows = tables(section(doc, "index-usage"))[0]
    check(rows and all(r[0] == "</style><script>" for r in rows),
          f"report_hostile_schema.html: schema_name '</style><script>' lists only its {len(rows)} indexes")
    doc = parse(OUT / "report_bare.html")
    check_elements(doc, "report_bare.html")
    check_sections(doc, "report_bare.html")
    for sid, words in [("hotspots", "PostGIS is not installed"), ("refresh", "pg_cron is not installed"),
                       ("accident-stats", "3 accidents")]:
        s = summary_of(doc, sid)
        check(words in s, f"report_bare.html: {sid}: {s}")
    doc = parse(OUT / "report_no_events.html")
    for sid in ("accident-stats", "hotspots"):
        s = summary_of(doc, sid)
        check("no table events" in s, f"report_no_events.html: {sid}: {s}")


def check_geojson():
    text = (OUT / "hotspots.geojson").read_text()
    obj = geojson.loads(text)
    check(obj.is_valid and obj["type"] == "FeatureCollection",
          f"hotspots.geojson: the geojson package validates it ({len(obj['features'])} features)")
    recount = {r["rank"]: r for r in json.loads((OUT / "recount.json").read_text())}
    for f in obj["features"]:
        g = f["geometry"]
        ring = g["coordinates"][0]
        poly = shape(g)
        p = f["properties"]
        ok = (g["type"] == "Polygon" and len(g["coordinates"]) == 1 and ring[0] == ring[-1]
              and poly.is_valid and poly.exterior.is_ccw and poly.area > 0
              and all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in ring)
              and set(p) == {"rank", "accidents", "fatal_accidents"})
        if not ok:
            check(False, f"hotspots.geojson: feature {p}: closed, valid, counter-clockwise polygon")
        r = recount[p["rank"]]
        if not (r["half_open"] == p["accidents"] and r["half_open_fatal"] == p["fatal_accidents"]
                and r["covered"] >= p["accidents"]):
            check(False, f"hotspots.geojson: cell {p} contains the points it counts: {r}")
    n = len(obj["features"])
    total = sum(f["properties"]["accidents"] for f in obj["features"])
    check(n == 200, f"hotspots.geojson: all {n} cells are closed, valid (shapely), counter-clockwise lon/lat "
                    f"polygons with rank/accidents/fatal_accidents")
    check(True, f"hotspots.geojson: PostGIS recount over events: each cell holds exactly the {total} points "
                f"it counts (and their fatal ones)")


def chromium(args, timeout=120):
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=timeout)


def console_lines(stderr):
    return [l for l in stderr.splitlines() if ":CONSOLE" in l]


def browser():
    url = (OUT / "report.html").resolve().as_uri()
    r = chromium(["--dump-dom", url])
    msgs = console_lines(r.stderr)
    check(r.returncode == 0 and not msgs, f"chromium: report.html loads with no console message {msgs[:2]}")
    dom = html5lib.parse(r.stdout, namespaceHTMLElements=False)
    heads = [text_of(h) for h in dom.iter() if local(h.tag) == "h2"]
    check(heads == [t for _, t in SECTIONS], f"chromium: the rendered DOM has every section heading: {heads}")
    # The console check can fail: the same page with one external image logs a CSP violation.
    bad = OUT / "report_with_external_image.html"
    bad.write_text((OUT / "report.html").read_text().replace(
        "</body>", '<img src="http://127.0.0.1:9/x.png"></body>'))
    r = chromium(["--dump-dom", bad.resolve().as_uri()])
    check(console_lines(r.stderr), "chromium: control: a page with an external image does log a console error")
    png = OUT / "report.png"
    png.unlink(missing_ok=True)
    r = chromium([f"--screenshot={png}", "--window-size=1280,4000", "--hide-scrollbars", url])
    data = png.read_bytes() if png.exists() else b""
    ok = data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 4000)
    check(ok and len(data) > 50_000, f"chromium: screenshot {png} (1280x4000, {len(data)} bytes)")
    pdf = OUT / "report.pdf"
    pdf.unlink(missing_ok=True)
    r = chromium([f"--print-to-pdf={pdf}", "--no-pdf-header-footer", url])
    data = pdf.read_bytes() if pdf.exists() else b""
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    check(data[:5] == b"%PDF-" and pages >= 2, f"chromium: prints to {pdf} ({pages} pages, @media print)")


exp = json.loads((OUT / "expected.json").read_text())
main_report(exp)
other_reports()
check_geojson()
browser()
print(f"report checks passed; screenshot: {OUT / 'report.png'}")
