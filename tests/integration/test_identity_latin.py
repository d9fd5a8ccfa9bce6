"""Identity resolution of a non-Chinese city's systems, onboarded only by writing contracts."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.evaluate import score_clusters, score_links
from pipelines.flow import RunSummary, run_flow
from pipelines.layout import WarehouseLayout
from pipelines.query import run_query
from tests.integration.latin_systems import Systems, generate, write_systems

PERSONS = 2000
LINK_COLUMNS = "source_system, source_record_id, resident_id"


def crosswalk(warehouse: Path, summary: RunSummary) -> pa.Table:
    """The published crosswalk; when the publish was blocked, what the resolve step produced."""
    if summary.snapshot_id is not None:
        return run_query(WarehouseLayout(warehouse), f"select {LINK_COLUMNS} from resident_source_link")
    resolved = WarehouseLayout(warehouse).resolved / "resident_source_link.parquet"
    return pq.read_table(resolved, columns=LINK_COLUMNS.split(", "))


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Systems, RunSummary, pa.Table, float]:
    """The three systems synced, standardized, resolved and (if the checks allow) published once."""
    root = tmp_path_factory.mktemp("latin")
    systems = generate(PERSONS)
    sources, environ = write_systems(systems, root)
    started = time.perf_counter()
    summary = run_flow(sources, root / "warehouse", environ)
    elapsed = time.perf_counter() - started
    assert not summary.failures, summary.failures
    return systems, summary, crosswalk(root / "warehouse", summary), elapsed


def residents_of(systems: Systems, links: pa.Table, person_key: str) -> set[str]:
    refs = {ref for ref, key in systems.truth.items() if key == person_key}
    rows = zip(*(links.column(c).to_pylist() for c in links.column_names), strict=True)
    return {resident for source, record, resident in rows if (source, record) in refs}


@pytest.mark.slow
def test_latin_sources_link_as_well_as_chinese_ones(
    resolved: tuple[Systems, RunSummary, pa.Table, float],
) -> None:
    """Without labels or code, the flow publishes with pairwise precision >= 0.999 and recall >= 0.99."""
    systems, summary, links, elapsed = resolved
    truth = systems.truth_table()
    pairs, clusters = score_links(links, truth), score_clusters(links, truth)
    print(
        f"\nlatin sources: {pairs.records} records, {clusters.persons} persons, {pairs.true_pairs} true"
        f" pairs; pairwise precision {pairs.precision:.5f} recall {pairs.recall:.5f} f1 {pairs.f1:.5f};"
        f" B-cubed precision {clusters.bcubed_precision:.5f} recall {clusters.bcubed_recall:.5f};"
        f" split persons {clusters.split_persons}, merged residents {clusters.merged_residents};"
        f" run_flow {elapsed:.1f} s; {summary.blocked or 'published'}"
    )
    assert pairs.records == len(systems.truth)
    assert pairs.precision >= 0.999
    assert pairs.recall >= 0.99
    assert summary.succeeded, summary.blocked


@pytest.mark.slow
def test_twins_and_namesakes_stay_apart(resolved: tuple[Systems, RunSummary, pa.Table, float]) -> None:
    """Twins at one address and strangers with a common name and birth date are never one resident."""
    systems, _, links, _ = resolved
    assert len(systems.twins) == 5 and len(systems.strangers) == 6
    for first, second in systems.twins + systems.strangers:
        assert residents_of(systems, links, first), first
        assert not residents_of(systems, links, first) & residents_of(systems, links, second), (first, second)
