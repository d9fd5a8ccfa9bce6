"""Render the auditors' report: one self-contained HTML file per snapshot, and an index of runs.

Self-contained means: styles inlined, charts drawn as inline SVG, no script, and a Content Security
Policy that forbids loading anything, so the page renders the same on an offline intranet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from pipelines.access_log import summarize_access
from pipelines.layout import WarehouseLayout, read_json
from pipelines.publish import Snapshot, SnapshotNotFound, current_snapshot
from pipelines.quality.spec import DIMENSIONS
from pipelines.report.charts import bar_chart, line_chart
from pipelines.report.corrections import CorrectionList, write_correction_lists
from pipelines.report.figures import ReportFigures, RunEntry, read_figures, read_runs

TEMPLATES = Path(__file__).resolve().parent / "templates"
DIMENSION_LABELS = {
    "completeness": "完整性",
    "validity": "有效性",
    "uniqueness": "唯一性",
    "consistency": "一致性",
    "timeliness": "及时性",
    "cross_source": "跨部门一致",
}


@dataclass(frozen=True)
class ReportFiles:
    """What ``build_report`` wrote.

    Attributes:
        report: The snapshot's report page.
        index: The index of runs (links to every report in the folder).
        corrections: One correction list per source.
        figures: The figures the report shows.
    """

    report: Path
    index: Path
    corrections: list[CorrectionList]
    figures: ReportFigures


def snapshot_by_id(layout: WarehouseLayout, snapshot_id: str | None) -> Snapshot:
    """The snapshot named, or the live one when ``snapshot_id`` is None.

    Raises:
        SnapshotNotFound: No such snapshot in the warehouse (old ones are retired).
    """
    if snapshot_id is None:
        return current_snapshot(layout)
    folder = layout.snapshots / snapshot_id
    manifest = read_json(folder / "manifest.json")
    if manifest is None:
        raise SnapshotNotFound(f"{layout.root}: no snapshot {snapshot_id} (retired or never made)")
    return Snapshot(**{**manifest, "folder": folder})


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{float(value):.1%}"


def _threshold(check: Mapping[str, Any]) -> str:
    if check.get("expectation") == "expect_column_max_to_be_between":
        return f"≤ {float(check['threshold']):g} h"
    return f"≥ {float(check['threshold']):.1%}"


def trend_charts(figures: ReportFigures) -> dict[str, str]:
    """One SVG line chart per source: mean pass rate of each dimension per checked batch."""
    charts = {}
    for source, rows in figures.trends.items():
        batches = list(dict.fromkeys((str(r["checked_at"]), r["batch_id"]) for r in rows))
        rate = {(str(r["checked_at"]), r["batch_id"], r["dimension"]): r["pass_rate"] for r in rows}
        series = {
            dimension: [rate.get((*batch, dimension)) for batch in batches]
            for dimension in DIMENSIONS
            if any((*batch, dimension) in rate for batch in batches)
        }
        labels = [checked_at[5:16].replace("T", " ") for checked_at, _ in batches]
        charts[source] = line_chart(f"{source}: pass rate per dimension", labels, series)
    return charts


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.globals.update(pct=_pct, threshold=_threshold)
    return environment


def _report_files(out_dir: Path) -> dict[str, str]:
    """Snapshot id → report file name, for every report already in the folder."""
    return {p.stem.removeprefix("report-"): p.name for p in sorted(out_dir.glob("report-*.html"))}


def build_report(
    layout: WarehouseLayout,
    out_dir: Path,
    snapshot_id: str | None = None,
    source_titles: Mapping[str, str] | None = None,
) -> ReportFiles:
    """Write the report of a snapshot (the live one by default), its correction lists and the index.

    Args:
        layout: The warehouse directory.
        out_dir: Where ``report-<snapshot>.html``, ``index.html`` and ``corrections/`` go.
        snapshot_id: A past snapshot to report on (rebuilds that run's report).
        source_titles: Display titles of the sources (from their contracts).

    Returns:
        The files written.
    """
    snapshot = snapshot_by_id(layout, snapshot_id)
    runs = read_runs(layout)
    figures = read_figures(snapshot, runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    corrections_dir = out_dir / f"corrections-{snapshot.snapshot_id}"
    corrections = write_correction_lists(snapshot.database, corrections_dir)
    environment = _environment()
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    report = out_dir / f"report-{snapshot.snapshot_id}.html"
    reports = _report_files(out_dir) | {snapshot.snapshot_id: report.name}
    runs_table = environment.get_template("runs.html.j2").render(runs=runs, reports=reports)
    latest_run: RunEntry | None = runs[0] if runs and snapshot_id is None else None
    page = environment.get_template("report.html.j2").render(
        f=figures,
        access=summarize_access(layout),
        css=css,
        generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        latest_run=latest_run,
        dimensions=DIMENSIONS,
        dimension_labels=DIMENSION_LABELS,
        source_titles=dict(source_titles or {}),
        trend_charts=trend_charts(figures),
        cluster_chart=bar_chart(
            "records per resident",
            [(str(r["size"]), int(r["residents"])) for r in figures.identity["cluster_sizes"]],
        ),
        corrections=[{**c.__dict__, "href": f"{corrections_dir.name}/{c.path.name}"} for c in corrections],
        runs_table=runs_table,
    )
    report.write_text(page, encoding="utf-8")
    index = out_dir / "index.html"
    latest = _report_files(out_dir).get(current_snapshot(layout).snapshot_id, report.name)
    index.write_text(
        environment.get_template("index.html.j2").render(css=css, runs_table=runs_table, latest_href=latest),
        encoding="utf-8",
    )
    return ReportFiles(report, index, corrections, figures)
