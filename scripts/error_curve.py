"""Linkage and placement quality as error rates rise: the curve in docs/identity-resolution.md.

Builds a district's systems at several error scales (every error rate of the profile multiplied,
capped at one) with seeds nobody tuned on, runs the whole flow on each, and prints pairwise
precision and recall, B-cubed figures and placement scores against the generated truth. Nothing
here feeds back into the model: thresholds and rules are policy, the model trains without labels.

    .venv/bin/python scripts/error_curve.py --residents 20000 --scales 0.5 1 2 3 --seeds 7 11
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from pipelines.demo import build_demo
from pipelines.demo.spec import load_spec
from pipelines.evaluate import evaluate_warehouse
from pipelines.flow import run_flow
from pipelines.layout import WarehouseLayout
from pipelines.settings import Settings


def measure(profile: str, residents: int, seed: int, scale: float, work: Path) -> dict[str, object]:
    """One point of the curve: build, run, score."""
    spec = load_spec(profile).model_copy(update={"error_scale": scale})
    folder = work / f"{profile}-{scale:g}-{seed}"
    systems = build_demo(folder / "systems", residents=residents, seed=seed, spec=spec)
    settings = Settings.from_env()
    summary = run_flow(
        settings.sources_dir, folder / "warehouse", {**settings.environ, **systems.environment()},
        grants_dir=settings.grants_dir, origin="cli",
    )  # fmt: skip
    if not summary.succeeded:
        return {"profile": profile, "scale": scale, "seed": seed, "published": False, "why": summary.blocked}
    report = evaluate_warehouse(WarehouseLayout(folder / "warehouse"), systems.truth_path)
    pairwise, placement = report["pairwise"], report.get("placement") or {}
    assert isinstance(pairwise, dict) and isinstance(placement, dict)
    return {
        "profile": profile,
        "scale": scale,
        "seed": seed,
        "published": True,
        "precision": pairwise["precision"],
        "recall": pairwise["recall"],
        "grid_accuracy": placement.get("grid_accuracy"),
        "same_flat_f1": (placement.get("same_flat") or {}).get("f1"),
        "same_household_f1": (placement.get("same_household") or {}).get("f1"),
    }


def main() -> None:
    """Print one line per (scale, seed) and the whole table as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="wuchang")
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gridsync-curve-") as work:
        for scale in args.scales:
            for seed in args.seeds:
                row = measure(args.profile, args.residents, seed, scale, Path(work))
                rows.append(row)
                print("  ".join(f"{key} {value}" for key, value in row.items()), flush=True)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
