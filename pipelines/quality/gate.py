"""The quality gate between resolve and publish: what the flow needs besides ``validate_run``.

The flow runs :func:`~pipelines.quality.validate.validate_run` on the tables about to be published;
a failed blocking check raises :class:`QualityGateFailed` before anything is written, so the live
snapshot stays as it was. Otherwise :func:`quality_tables` adds the check results to the snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from pipelines.contracts import SourceContract, load_contracts
from pipelines.quality.validate import QualityGateFailed, QualityOutcome, validate_run, warm_up

# The previous snapshot's dq_result before the first publish: no rows, the key columns only.
EMPTY_HISTORY = pa.schema(
    [
        ("source_system", pa.string()),
        ("batch_id", pa.string()),
        ("check_id", pa.string()),
        ("extracted_at", pa.string()),
    ]
).empty_table()

__all__ = ["QualityGateFailed", "QualityOutcome", "contracts_of", "quality_tables", "validate_run", "warm_up"]


def contracts_of(sources_dir: Path, sources: Sequence[str]) -> list[SourceContract]:
    """The contracts of the named sources, read from the sources folder."""
    return [c for c in load_contracts(sources_dir) if c.name in set(sources)]


def quality_tables(outcome: QualityOutcome, previous_dq_result: pa.Table | None) -> dict[str, pa.Table]:
    """The tables the ``dq_result`` mart is built from (besides the row-level ones).

    Args:
        outcome: This run's check results.
        previous_dq_result: The live snapshot's ``dq_result`` (carried forward), or None.

    Returns:
        ``dq_check_result``, ``dq_check_failure`` and ``dq_result_history``.
    """
    return {
        "dq_check_result": outcome.results_table(),
        "dq_check_failure": outcome.failing_rows,
        "dq_result_history": EMPTY_HISTORY if previous_dq_result is None else previous_dq_result,
    }
