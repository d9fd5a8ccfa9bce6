"""Build the demo department systems without running the flow: ``python -m pipelines.demo``.

``python -m pipelines.demo --out DIR [--residents N] [--seed S] [--profile P] [--errors FILE]`` builds
them (SQLite files in DIR);
``python -m pipelines.demo --out DIR --next-day [--fraction F]`` plays one more day on them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines.demo import (
    DEFAULT_RESIDENTS,
    DEFAULT_SEED,
    SpecError,
    apply_next_day_update,
    build_demo,
    load_spec,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, build or update the demo, and say what was done.

    Args:
        argv: the arguments (``sys.argv[1:]`` if None).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m pipelines.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the SQLite files and the truth")
    parser.add_argument("--residents", type=int, default=DEFAULT_RESIDENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--profile", default="wuchang", help="district profile: a built-in name or a YAML file"
    )
    parser.add_argument("--errors", type=Path, help="YAML file of rates and shares laid over the profile")
    parser.add_argument("--next-day", action="store_true", help="play one day on an existing demo")
    parser.add_argument("--fraction", type=float, default=0.03, help="share of residents whose lives change")
    args = parser.parse_args(argv)
    if args.next_day:
        update = apply_next_day_update(args.out, fraction=args.fraction)
        print(f"{update.day}: updated {update.updated}, inserted {update.inserted}, deaths {update.deaths}")
        return 0
    try:
        spec = load_spec(args.profile, args.errors)
    except SpecError as invalid:
        print(invalid, file=sys.stderr)
        return 1
    demo = build_demo(args.out, residents=args.residents, seed=args.seed, progress=print, spec=spec)
    for source, url in demo.urls.items():
        print(f"{source:<16} {demo.row_counts[source]:>9,} rows  {url}")
    print(f"truth: {demo.truth_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
