"""The auditors' report and correction lists, built from real runs: counts equal the warehouse's."""

from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path

import pytest

from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout
from pipelines.query import run_query
from pipelines.report.browser import render_offline
from pipelines.report.render import build_report

QUARANTINE_CELL = re.compile(r'data-source="([^"]+)" data-rule="([^"]+)">(\d+)<')


def rows(warehouse: Path, sql: str) -> list[dict[str, object]]:
    return run_query(WarehouseLayout(warehouse), sql).to_pylist()


def test_report_counts_equal_warehouse_counts(systems, tmp_path: Path) -> None:
    """Quarantine counts by rule and the correction lists hold exactly what the warehouse holds."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    files = build_report(WarehouseLayout(warehouse), tmp_path / "report")
    html = files.report.read_text(encoding="utf-8")
    shown = {(s, r): int(n) for s, r, n in QUARANTINE_CELL.findall(html)}
    stored = rows(warehouse, "select source_system, rule, count(*) as n from quarantine group by all")
    assert shown == {(r["source_system"], r["rule"]): r["n"] for r in stored}
    assert shown == {("clinic", "duplicate_primary_key"): 1, ("clinic", "unidentifiable_record"): 1}
    assert f'id="total-quarantined">{sum(shown.values())}<' in html
    living = rows(
        warehouse,
        "select count(*) as n, count(grid_code) as gridded from resident"
        " where not coalesce(is_deceased, false)",
    )[0]
    assert f'id="places-residents">{living["n"]}<' in html
    assert f'id="places-in-a-grid">{living["gridded"]}<' in html

    clinic = next(c for c in files.corrections if c.source_system == "clinic")
    with clinic.path.open(encoding="utf-8-sig", newline="") as handle:
        listed = list(csv.DictReader(handle))
    expected = rows(
        warehouse,
        "select (select count(*) from quarantine where source_system = 'clinic')"
        " + (select count(*) from dq_finding where source_system = 'clinic')"
        " + (select count(*) from dq_check_failure where source_system = 'clinic') as n",
    )[0]["n"]
    conflicts = sum(1 for r in listed if r["问题类别 / kind"].startswith("跨部门"))
    assert len(listed) == clinic.rows == expected + conflicts
    problems = {(r["记录主键 / record key"], r["问题 / problem"]) for r in listed}
    assert ("p4", "unidentifiable_record") in problems
    assert ("p3", "unlisted_code") in problems


def test_blocked_run_is_explained_and_past_snapshot_report_is_reproducible(systems, tmp_path: Path) -> None:
    """After a blocked run the report names the block; a past snapshot's report is rebuilt from it alone."""
    sources, warehouse, environ = systems
    first = run_flow(sources, warehouse, environ)
    clinic = sqlite3.connect(warehouse.parent / "clinic.sqlite")
    clinic.execute(
        "insert into patients values"
        " (null, 'C', 'E1', 'No Key', 'm', '01.01.1970', '2026-02-01 08:00:00', 'A')"
    )
    clinic.commit()
    clinic.close()
    blocked = run_flow(sources, warehouse, environ)
    assert blocked.blocked

    files = build_report(WarehouseLayout(warehouse), tmp_path / "report")
    html = files.report.read_text(encoding="utf-8")
    assert 'id="latest-run"' in html
    assert "publish blocked: source clinic, check primary_key_present" in html
    assert f'id="snapshot-id">{first.snapshot_id}<' in html
    index = files.index.read_text(encoding="utf-8")
    assert blocked.run_id in index and "已阻断 blocked" in index

    past = build_report(WarehouseLayout(warehouse), tmp_path / "past", snapshot_id=first.snapshot_id)
    assert past.report.name == f"report-{first.snapshot_id}.html"
    assert past.figures.totals == files.figures.totals


@pytest.mark.slow
def test_report_renders_offline_in_chromium(systems, tmp_path: Path) -> None:
    """Offline headless Chromium shows scorecard, trend charts and CJK text; no request leaves the machine."""
    sources, warehouse, environ = systems
    run_flow(sources, warehouse, environ)
    files = build_report(WarehouseLayout(warehouse), tmp_path / "report")
    page = render_offline(
        files.report,
        {
            "scorecard_cells": "document.querySelectorAll('#scorecard td.cell').length",
            "trend_charts": "document.querySelectorAll('#trends svg.trend-chart polyline, "
            "#trends svg.trend-chart circle').length",
            "charts": "document.querySelectorAll('#trends svg.trend-chart').length",
            "cjk_font": "document.fonts.check('16px \"Noto Sans CJK SC\"', '数据质量')",
            "title": "document.querySelector('h1').innerText",
        },
    )
    assert page.remote_requests == []
    assert page.requests == (files.report.resolve().as_uri(),)
    assert page.facts["scorecard_cells"] == 3 * 6  # clinic, housing, warehouse × six dimensions
    assert page.facts["charts"] == 3
    assert page.facts["trend_charts"] > 0
    assert page.facts["cjk_font"] is True
    assert page.facts["title"].startswith("数据质量审计报告")
    assert page.screenshot.startswith(b"\x89PNG")


@pytest.mark.slow
def test_offline_check_sees_a_page_that_reaches_out(tmp_path: Path) -> None:
    """A page with a CDN stylesheet is caught: the recorder lists the request it tried."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        '<html><head><link rel="stylesheet" href="https://cdn.example.com/site.css"></head>'
        "<body>x</body></html>",
        encoding="utf-8",
    )
    page = render_offline(leaky, {})
    assert page.remote_requests == ["https://cdn.example.com/site.css"]
