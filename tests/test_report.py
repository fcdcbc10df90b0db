"""`kaireon report`: the page's numbers against the warehouse (read with DuckDB directly), every warehouse
value escaped (a hostile offer name), empty states that say why, and the page opened in headless Chromium
(Debian's package; scripts/chromium.sh): every chart present and sized in the DOM, and drawn on the screenshot."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pytest

from conftest import copy_demo, kaireon
from kaireon_sql import report as rp
from kaireon_sql.experiments import readout

HOSTILE = '<script>alert("x")</script> Apparel & \'co\' </svg><img src=x onerror=alert(1)>'
CHROMIUM = shutil.which("chromium")
BLUE = np.array([0x1F, 0x5F, 0xA8]) / 255  # charts.PALETTE[0]: bars, the model's Qini curve, the lift intervals
ORANGE = np.array([0xD9, 0x48, 0x0F]) / 255  # PALETTE[1]: the lift's points, the perfect Qini curve


class Page(HTMLParser):
    """Tables (rows of cell texts, with the flow section they are in), chart divs, tags and all the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[str | None, list[list[str]]]] = []
        self.charts: list[str] = []
        self.tags: Counter = Counter()
        self.svg_sizes: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self._flow: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] += 1
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "section":
            self._flow = a.get("data-flow")
        elif tag == "table":
            self.tables.append((self._flow, []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and "data-chart" in a:
            self.charts.append(a["data-chart"])
        elif tag == "svg":
            self.svg_sizes.append((a.get("width", ""), a.get("height", "")))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "section":
            self._flow = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> Page:
    p = Page()
    p.feed(text)
    return p


def _table(page: Page, flow: str | None, head: list[str]) -> list[list[str]]:
    for f, rows in page.tables:
        if f == flow and rows and rows[0] == head:
            return rows[1:]
    raise AssertionError(f"no table {head} in section {flow}")


def _safe(page: Page, html_text: str) -> None:
    """No script, no element or handler the page's own code did not write, nothing fetched."""
    assert page.tags["script"] == 0 and page.tags["img"] == 0 and page.tags["link"] == 0
    assert not [a for a in page.attrs if a[1].startswith("on")]
    external = [v for tag, k, v in page.attrs if k in ("src", "href", "xlink:href") and not v.startswith(("#", "data:"))]
    assert not external
    assert not re.findall(r"https?://(?!www\.w3\.org/)", html_text)  # only the SVG and XLink namespaces


# ---- without dbt: escaping and empty states -------------------------------------------------------

def _hostile_report() -> rp.Report:
    funnel = {"run_id": f"run {HOSTILE}", "as_of": "2026-11-20 15:00:00", "decision_flow_version": 1, "customers": 10,
              "holdout_customers": 1, "total_candidates": 30, "after_qualification": 9, "after_contact_policy": 8,
              "decided": 5, "withheld": 1}
    section = rp.FlowSection(HOSTILE, funnel["run_id"], funnel, offers=[("o<1>", HOSTILE, 5)], channels=[("e&mail", 5)],
                             reasons=[("qualification", f"Rule '{HOSTILE}' not met: requires x >= 1", 7)])
    lift = readout.finish({"decision_flow_key": HOSTILE, "analysis": "pooled", "treatment_n": 40, "holdout_n": 40,
                           "min_group_size": 10, "lift_abs": 0.1, "lift_low": 0.02, "lift_high": 0.18,
                           "revenue_diff": 2.0, "revenue_diff_low": -1.0, "revenue_diff_high": 5.0, "z": 2.1,
                           "welch_z": 1.2, "srm_chi2": 0.0, "incremental_revenue": 80.0,
                           "incremental_revenue_low": -40.0, "incremental_revenue_high": 200.0,
                           "expected_holdout_share": 0.5})
    return rp.Report(HOSTILE, None, [section], lift=[lift], lift_lines=[f"{HOSTILE} drives $80"],
                     qini_notes=[f"No uplift model {HOSTILE}"], learning_notes=["No learning model: none"])


def test_every_warehouse_value_is_escaped():
    text = rp.page(_hostile_report())
    page = parse(text)
    _safe(page, text)
    assert "<script" not in text and "<img" not in text and "onerror=alert(1)>" not in text
    body = "".join(page.text)
    assert body.count(HOSTILE) >= 4  # flow key, offer name, reason, readout lines: shown as text
    assert _table(page, HOSTILE, ["offer", "name", "decisions"]) == [["o<1>", HOSTILE, "5"]]
    assert _table(page, HOSTILE, ["channel", "decisions"]) == [["e&mail", "5"]]
    # every chart is an inline SVG whose text (matplotlib's SVG writer) is escaped too
    assert page.charts == ["funnel-0", "offers-0", "channels-0", "reasons-0", "lift"]
    assert page.tags["svg"] == len(page.charts)


def test_empty_states_say_why():
    funnel = {"run_id": "r", "as_of": "x", "decision_flow_version": 1, "customers": 5, "holdout_customers": 0,
              "total_candidates": 10, "after_qualification": 0, "after_contact_policy": 0, "decided": 0, "withheld": 0}
    r = rp.Report("p", None, [rp.FlowSection("f", "r", funnel)], lift_note="No flow of this run has an experiment",
                  qini_notes=["No uplift model: none scores a flow"], learning_notes=["No learning model: none"])
    page = parse(rp.page(r))
    empty = " ".join(page.text)
    assert "No decisions in this run: every candidate was rejected, ranked out or withheld (0 candidates after " \
           "contact policy, 0 withheld)" in empty
    assert "No candidate was rejected in this run" in empty
    assert "No flow of this run has an experiment" in empty and "No uplift model" in empty
    assert "No learning model" in empty
    assert page.charts == ["funnel-0"]


def test_earlier_run_from_the_decision_log():
    rows = [{"decision_flow_key": "f", "run_id": "r1", "offer_id": "a", "offer_name": "A", "channel": "email",
             "decided": 3, "withheld": 1},
            {"decision_flow_key": "f", "run_id": "r1", "offer_id": "b", "offer_name": "B", "channel": "push",
             "decided": 0, "withheld": 2}]
    (s,) = rp.log_sections(rows, "r1", {"f": "r2"})
    assert s.offers == [("a", "A", 3)] and s.channels == [("email", 3)] and s.funnel is None
    assert "Run r1 is not the latest build's run of flow f (r2)" in s.note and "withheld decisions (3)" in s.note


def test_online_learning_curve():
    rows = [{"as_of": f"2026-11-{d}", "update_n": v, "kind": kind, "term": term, "coefficient": c, "rows": 10 * v}
            for v, d in ((1, 18), (2, 19), (3, 20))
            for kind, term, c in (("intercept", "o1", -1 + 0.1 * v), ("intercept", "o2", -1 - 0.1 * v),
                                  ("weight", "days", 0.01 * v))]
    html_text = rp._online_html(rp.Learning("ol", "online_learner", "online", rows), 0)
    page = parse(html_text)
    assert page.charts == ["learning-0"]
    assert _table(page, None, ["version", "as_of", "impressions learned from"]) == [
        ["1", "2026-11-18", "10"], ["2", "2026-11-19", "20"], ["3", "2026-11-20", "30"]]
    assert "intercept o1" in html_text and "intercept o2" in html_text


def test_posterior_state():
    rows = [{"offer_id": "o1", "n": 40, "k": 4, "propensity": 0.11}, {"offer_id": "o2", "n": 10, "k": 0, "propensity": 0.04}]
    page = parse(rp._posterior_html(rp.Learning("b", "bayesian", "posterior", rows), 2))
    assert page.charts == ["learning-2"]
    assert _table(page, None, ["offer", "impressions n", "positives k", "propensity"]) == [
        ["o1", "40", "4", "0.1100"], ["o2", "10", "0", "0.0400"]]
    assert "the warehouse keeps the latest only" in "".join(page.text)


# ---- the demo through dbt, and the browser --------------------------------------------------------

def _q(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def _dicts(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The winback demo with a hostile offer name, built, and its report."""
    project = copy_demo(tmp_path_factory.mktemp("report"))
    config = project / "decisioning" / "winback.yml"
    yaml_name = "'" + HOSTILE.replace("'", "''") + "'"
    text = config.read_text(encoding="utf-8")
    assert '"Apparel — 20% back"' in text
    config.write_text(text.replace('"Apparel — 20% back"', yaml_name), encoding="utf-8")
    kaireon("run", "--as-of", "2026-11-20T15:00:00Z", "--quiet", cwd=project)
    proc = kaireon("report", "--out", "out/report.html", cwd=project)
    con = duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=True)
    yield project, project / "out" / "report.html", proc, con
    con.close()




@pytest.mark.dbt
def test_report_matches_the_warehouse(demo):
    project, path, proc, con = demo
    assert f"report: {path}" in proc.stdout or "report: out/report.html" in proc.stdout
    text = path.read_text(encoding="utf-8")
    page = parse(text)
    _safe(page, text)
    assert "<script" not in text and HOSTILE in "".join(page.text)
    (funnel,) = _dicts(con, "select * from kaireon_funnel")
    steps = _table(page, "winback", ["step", "count"])
    assert [int(n) for _, n in steps] == [funnel[k] for k in ("customers", "total_candidates", "after_qualification",
                                                               "after_contact_policy", "decided", "withheld",
                                                               "holdout_customers")]
    want = sorted(_q(con, "select offer_id, offer_name, count(*) from kaireon_decisions group by 1, 2"),
                  key=lambda r: (-r[2], r[0]))
    assert [(o, n, int(c)) for o, n, c in _table(page, "winback", ["offer", "name", "decisions"])] == want
    assert any(n == HOSTILE for _, n, _ in want)
    reasons = sorted(_q(con, "select stage, reason, count(*) from kaireon_rejections group by 1, 2"),
                     key=lambda r: (-r[2], r[0], r[1]))[:rp.TOP_REASONS]
    assert [(s, r, int(n)) for s, r, n in _table(page, "winback", ["stage", "reason", "candidates"])] == reasons
    # the lift table is kaireon_experiments' row, as `kaireon experiments` reads it (one run: the run's row)
    (exp_row,) = _dicts(con, "select * from kaireon_experiments where analysis = 'run'")
    (lift,) = _table(page, None, ["flow", "rows", "treated / holdout", "conversion lift (points)", "95% interval", "p",
                                  "incremental revenue", "95% interval", "p"])
    assert lift[2] == f"{exp_row['treatment_n']} / {exp_row['holdout_n']}"
    assert lift[3] == f"{100 * exp_row['lift_abs']:+.2f}"
    # the Qini curve of the demo's uplift model over the flow's holdout units
    units = _q(con, "select count(*), sum(treatment) from kaireon_winback__uplift_training")[0]
    assert f"{units[0]} units whose outcome window has closed ({int(units[1])} treated" in "".join(page.text)
    assert page.charts == ["funnel-0", "offers-0", "channels-0", "reasons-0", "lift", "qini-0"]
    assert "No learning model" in "".join(page.text)


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180)


def _clusters(rows: np.ndarray, gap: int = 25) -> int:
    """Runs of screenshot rows holding a colour, separated by more than `gap` rows without it."""
    if not len(rows):
        return 0
    return 1 + int((np.diff(rows) > gap).sum())


@pytest.mark.dbt
def test_report_renders_in_headless_chromium(demo, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("KAIREON_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is not installed (scripts/chromium.sh installs Debian's package as root)")
        pytest.skip("chromium not installed (scripts/chromium.sh installs Debian's package as root)")
    import matplotlib.image

    _project, path, _proc, _con = demo
    dom = _chromium("--dump-dom", path.as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = parse(dom.stdout)
    assert page.charts == ["funnel-0", "offers-0", "channels-0", "reasons-0", "lift", "qini-0"]
    assert page.tags["svg"] == len(page.charts) and page.tags["script"] == 0
    for width, height in page.svg_sizes:  # every chart sized (matplotlib writes pt)
        assert float(width.removesuffix("pt")) > 200 and float(height.removesuffix("pt")) > 100
    shot = tmp_path / "report.png"
    proc = _chromium("--hide-scrollbars", f"--screenshot={shot}", "--window-size=1200,6000", path.as_uri(), tmp=tmp_path)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    image = matplotlib.image.imread(str(shot))[:, :, :3]
    assert image.shape[:2] == (6000, 1200)
    assert (image < 0.9).any(axis=2).mean() > 0.03  # not blank
    blue = np.flatnonzero((np.abs(image - BLUE).max(axis=2) < 0.06).sum(axis=1) > 20)
    orange = np.flatnonzero((np.abs(image - ORANGE).max(axis=2) < 0.06).sum(axis=1) > 3)
    # the blue of the bars, the lift intervals and the model's Qini curve, in separate bands of the page:
    # funnel, offers, channels, reasons, two lift panels, Qini (at least one band each)
    assert _clusters(blue) >= 6, blue
    assert _clusters(orange) >= 2, orange  # the lift's points and the perfect Qini curve


@pytest.mark.dbt
def test_learning_curve_of_an_online_learner(tmp_path, monkeypatch):
    """Two runs of test_online_learner's project: the page's versions table is the state table's, with a chart;
    no experiment and no uplift model: those sections say so."""
    from datetime import timedelta

    from test_online_learner import DAY, START, _customers, _history, _project, _write

    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    project = _project(tmp_path)
    customers, history = _customers(), _history(_customers(), 3)
    _write(project.root / "seeds" / "ol_customers.csv", ["customer_id", "days", "revenue"], customers)
    for k in (1, 2):
        as_of = START + k * DAY
        _write(project.root / "seeds" / "ol_history.csv",
               ["customer_id", "offer_id", "channel", "outcome", "occurred_at", "value", "creative_id", "decision_flow_key"],
               [{**h, "channel": "email"} for h in history if h["occurred_at"] <= as_of + timedelta(hours=6)])
        kaireon("run", "--as-of", as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "--quiet", cwd=project.root)
    kaireon("report", cwd=project.root)
    text = (project.root / "reports" / "kaireon_report.html").read_text(encoding="utf-8")
    page = parse(text)
    _safe(page, text)
    con = duckdb.connect(str(next((project.root / "warehouse").glob("*.duckdb"))), read_only=True)
    try:
        want = _q(con, "select update_n, cast(as_of as varchar), max(rows) from kaireon_model__ol__state "
                       "group by 1, 2 order by 1")
        intercepts = _q(con, "select distinct term from kaireon_model__ol__state where kind = 'intercept' order by 1")
    finally:
        con.close()
    assert len(want) == 2
    got = _table(page, None, ["version", "as_of", "impressions learned from"])
    assert [(int(v), int(n)) for v, _, n in got] == [(v, n) for v, _, n in want]
    assert [a[:19] for _, a, _ in got] == [a[:19] for _, a, _ in want]
    assert "learning-0" in page.charts
    body = "".join(page.text)
    assert all(f"intercept {t}" in body for (t,) in intercepts)
    assert "No flow of this run has an experiment" in body and "No uplift model" in body
