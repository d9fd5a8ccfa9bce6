"""The ``gridsync`` command line: one subcommand per step, plus the whole flow and the demo.

Exit code 0 only on success; on failure one line on stderr naming what is at fault.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contracts import ContractError, load_contract, load_contracts
from pipelines.extract import ExtractError
from pipelines.flow import RunSummary, publish_run, run_flow, sync_source
from pipelines.grants import GrantError
from pipelines.keys import SecretKeyError
from pipelines.layout import WarehouseLayout, publish_lock
from pipelines.principals import AuthenticationError, Principal
from pipelines.publish import SnapshotNotFound, current_snapshot
from pipelines.quality.gate import QualityGateFailed
from pipelines.quality.holds import ReleaseError, read_holds, release_batch
from pipelines.query import QueryError
from pipelines.resolve.review import ReviewError
from pipelines.settings import DEFAULT_WAREHOUSE_DIR, Settings

DEMO_ROOT = DEFAULT_WAREHOUSE_DIR / "demo"
EXPECTED_ERRORS = (
    ContractError,
    ExtractError,
    QueryError,
    SnapshotNotFound,
    FileNotFoundError,
    QualityGateFailed,
    ReviewError,
    ReleaseError,
    AuthenticationError,
    GrantError,
    SecretKeyError,
)


def _progress(started: float) -> Callable[[str], None]:
    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    return say


def print_summary(summary: RunSummary, layout: WarehouseLayout) -> None:
    """Print what a run did: records per source, quarantine, residents, links, time per step."""
    print(f"run {summary.run_id}")
    print(f"  {'source':<18}{'batch rows':>11}{'staged':>10}{'quarantined':>13}{'findings':>10}")
    for sync in summary.syncs:
        staged = sync.staged
        print(
            f"  {sync.source_system:<18}{sync.batch.row_count:>11}{staged.records:>10}"
            f"{staged.quarantined:>13}{staged.findings:>10}"
            + ("" if sync.batch.is_new else "   (no change since last batch)")
        )
    for source, reason in summary.failures.items():
        print(f"  {source:<18}FAILED: {reason}")
    for source, batch in summary.stale_sources.items():
        print(f"  {source:<18}published from its last good batch {batch}")
    print(f"  residents {summary.residents}, links {summary.links}, conflicts {summary.conflicts}")
    print("  time per step: " + ", ".join(f"{k} {v:.1f}s" for k, v in summary.step_seconds.items()))
    failed_checks = [c for c in summary.quality if not c["is_passed"]]
    if summary.quality:
        print(f"  quality checks: {len(summary.quality)} run, {len(failed_checks)} failed")
    for check in failed_checks:
        print(
            f"    {check['severity']:<5} {check['source_system'] or 'warehouse'}: {check['check_id']}"
            f" ({check['failed_rows']} of {check['checked_rows']} rows)"
        )
    if summary.blocked:
        print(f"  BLOCKED: {summary.blocked}; the previous snapshot stays live")
    if summary.unchanged:
        print(f"  nothing changed since snapshot {summary.snapshot_id}: it stays live, nothing was rewritten")
    elif summary.snapshot_id:
        print(f"  snapshot {summary.snapshot_id} is live in {layout.root}")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the whole flow once for every contract in the sources folder."""
    layout = WarehouseLayout(args.warehouse)
    say = _progress(time.perf_counter())
    summary = run_flow(args.sources, args.warehouse, settings.environ, say, settings.grants_dir)
    print_summary(summary, layout)
    if not summary.succeeded:
        problems = [f"{s}: {r}" for s, r in summary.failures.items()]
        failed = "; ".join(problems + [summary.blocked or ""]).strip("; ") or "nothing published"
        print(f"gridsync: run finished with failures: {failed}", file=sys.stderr)
        return 1
    return 0


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """Extract and stage one source."""
    contract = load_contract(args.contract)
    result = sync_source(contract, WarehouseLayout(args.warehouse), settings.environ)
    staged = result.staged
    print(
        f"{contract.name}: batch {result.batch.batch_id} ({result.batch.row_count} rows"
        f"{'' if result.batch.is_new else ', no change'}); staged {staged.records}, "
        f"quarantined {staged.quarantined}, findings {staged.findings}"
    )
    return 0


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    """Resolve identities over the staged sources and publish a snapshot."""
    chosen = replace(settings, sources_dir=args.sources, warehouse_dir=args.warehouse)
    summary = publish_run(chosen, progress=_progress(time.perf_counter()))
    print_summary(summary, WarehouseLayout(args.warehouse))
    return 0


def cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    """List the batches held back by a blocking check, or release one (the next run publishes it)."""
    layout = WarehouseLayout(args.warehouse)
    if args.source is None:
        for hold in read_holds(layout):
            state = f"released by {hold.released_by}" if hold.is_released else "held"
            print(f"{hold.source_system:<18}{hold.batch_id:<36}{state:<24}{hold.reason}")
        return 0
    if args.batch is None or not args.by:
        raise ReleaseError("give the source, the batch and --by NAME (who releases it)")
    with publish_lock(layout):
        hold = release_batch(layout, args.source, args.batch, args.by, args.note)
    print(
        f"released source {hold.source_system} batch {hold.batch_id} (held by {hold.run_id}: {hold.reason})"
    )
    print("the next run publishes it although its blocking check fails")
    return 0


def render(table: pa.Table, output_format: str) -> str:
    """Render a query result as csv, json (one object per row) or an aligned table."""
    frame = table.to_pandas()
    if output_format == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if output_format == "json":
        return json.dumps(table.to_pylist(), ensure_ascii=False, default=str, indent=1)
    return frame.to_string(index=False, na_rep="") if len(frame) else "(no rows)"


def principal_of(args: argparse.Namespace, settings: Settings) -> Principal:
    """The principal whose credential the command was given (file, else GRIDSYNC_CREDENTIAL);
    a failed authentication is written to the warehouse's access log.

    Raises:
        AuthenticationError: No credential, or a wrong one.
    """
    from pipelines.access import authenticate_logged

    credential = settings.credential
    if getattr(args, "credential_file", None) is not None:
        credential = args.credential_file.read_text(encoding="utf-8").strip()
    return authenticate_logged(WarehouseLayout(args.warehouse), settings, credential)


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    """Run a read-only query against the live (or a past) snapshot; every query is logged.

    A department's grant is used only with that department's credential; without ``--department``
    the console user (who can read the warehouse files anyway) queries the whole warehouse.
    """
    from pipelines.access import Caller, logged_query

    layout = WarehouseLayout(args.warehouse)
    caller = Caller(principal_of(args, settings) if args.department else None)
    result = logged_query(
        layout, caller, args.sql, args.purpose, args.department, args.snapshot, settings.limits
    )
    print(render(result.table, args.format))
    if result.truncated:
        print(f"gridsync: result cut at {settings.limits.rows} rows", file=sys.stderr)
    return 0


def cmd_credentials(args: argparse.Namespace, settings: Settings) -> int:
    """Issue, rotate, revoke or list principals' credentials (kept hashed outside the warehouse)."""
    from pipelines.principals import issue_credential, list_principals, revoke_credential

    if args.action == "list":
        print(render(pa.Table.from_pylist(list_principals(settings)), args.format))
        return 0
    if not args.principal:
        raise AuthenticationError(f"credentials {args.action}: give --principal")
    if args.action == "revoke":
        found = revoke_credential(settings, args.principal)
        print(f"{args.principal}: {'revoked' if found else 'no such principal'}")
        return 0 if found else 1
    credential = issue_credential(settings, args.principal, args.role, args.department)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.touch(mode=0o600)
        args.out.write_text(credential + "\n", encoding="utf-8")
        print(f"{args.principal}: credential written to {args.out} (the previous one no longer works)")
    else:
        print(credential)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the warehouse over HTTP(S) to departments' analysts and systems until stopped."""
    from pipelines.serve import serve

    if (args.tls_cert is None) != (args.tls_key is None):
        raise FileNotFoundError("give both --tls-cert and --tls-key, or neither")
    scheme = "https" if args.tls_cert else "http"
    print(f"gridsync: serving {args.warehouse} on {scheme}://{args.host}:{args.port}/", file=sys.stderr)
    serve(settings, args.warehouse, args.host, args.port, args.tls_cert, args.tls_key)
    return 0


def cmd_catalogue(args: argparse.Namespace, settings: Settings) -> int:
    """Write the data catalogue (JSON or CSV by the file's suffix), or print it as a table."""
    from pipelines.catalogue import build_catalogue, write_catalogue
    from pipelines.grants import load_grants

    entries = build_catalogue(load_grants(args.grants), load_contracts(args.sources))
    if args.out is not None:
        print(f"catalogue: {write_catalogue(entries, args.out)} ({len(entries)} columns)")
        return 0
    rows = [
        {"table": e.table, "column": e.column, "sharing": e.sharing, "personal": e.personal}
        | dict(e.departments)
        for e in entries
    ]
    print(render(pa.Table.from_pylist(rows), "table"))
    return 0


def cmd_access_log(args: argparse.Namespace, settings: Settings) -> int:
    """Show the access log (auditors), or check that no line was changed or removed."""
    from pipelines.access_log import read_access_log, verify_chain

    layout = WarehouseLayout(args.warehouse)
    if args.verify:
        broken = verify_chain(layout)
        print(broken or "access log intact: every line chains to the one before")
        return 1 if broken else 0
    log_table = read_access_log(layout)
    if args.principal:
        log_table = log_table.filter(pc.equal(log_table.column("principal"), args.principal))
    print(render(log_table.drop_columns(["hash"]).slice(max(0, len(log_table) - args.limit)), args.format))
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Score the live crosswalk against ground truth (pairwise, B-cubed, id stability)."""
    from pipelines.evaluate import evaluate_warehouse

    report = evaluate_warehouse(WarehouseLayout(args.warehouse), args.truth, args.before_snapshot)
    print(json.dumps(report, indent=1))
    return 0


def cmd_review(args: argparse.Namespace, settings: Settings) -> int:
    """List the pairs awaiting clerical review, or record a reviewer's decision."""
    from pipelines.resolve.review import approve_decision, pending_reviews, submit_decision

    layout = WarehouseLayout(args.warehouse)
    if args.records:
        if len(args.records) != 2 or not (args.same or args.not_same or args.approve):
            raise ReviewError("give two record references and --same, --not-same or --approve")
        reviewer = principal_of(args, settings)
        first, second = args.records
        if args.approve:
            row = approve_decision(layout, reviewer, first, second)
        else:
            decision = "same" if args.same else "not_same"
            row = submit_decision(layout, reviewer, first, second, decision, args.note)
        state = (
            "proposed: a second reviewer approves it with --approve"
            if row["status"] == "proposed"
            else ("applies from the next run")
        )
        pair = f"{row['record_l']} / {row['record_r']}"
        print(f"recorded {pair}: {row['decision']} by {row['reviewer']} ({state})")
        return 0
    print(render(pending_reviews(layout).slice(0, args.limit), args.format))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Build the demo department systems and run the whole flow into a local warehouse."""
    from pipelines.demo import SpecError, build_demo, load_spec
    from pipelines.evaluate import read_truth, score_links, score_placement
    from pipelines.publish import read_published

    try:
        spec = load_spec(args.profile, args.errors)
    except SpecError as invalid:
        print(f"gridsync: {invalid}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    say = _progress(started)
    say(f"building {spec.name} demo department systems for {args.residents} residents in {args.out}")
    systems = build_demo(args.out / "systems", residents=args.residents, seed=args.seed, spec=spec)
    environ = {**settings.environ, **systems.environment()}
    warehouse = args.out / "warehouse"
    summary = run_flow(settings.sources_dir, warehouse, environ, say, settings.grants_dir, origin="demo")
    layout = WarehouseLayout(warehouse)
    print_summary(summary, layout)
    links = read_published(layout, "resident_source_link")
    residents = read_published(layout, "resident")
    if links is not None and residents is not None:
        truth = read_truth(systems.truth_path)
        score = score_links(links, truth)
        print(
            f"  crosswalk vs ground truth: pairwise precision {score.precision:.4f}, "
            f"recall {score.recall:.4f}, F1 {score.f1:.4f}"
        )
        placed = score_placement(links, residents, truth)
        if placed is not None:
            print(
                f"  placement vs ground truth: grid accuracy {placed.grid_accuracy:.4f}, same flat F1 "
                f"{placed.same_flat['f1']:.4f}, same household F1 {placed.same_household['f1']:.4f}"
            )
    report = _demo_report(layout, args.out / "report", settings) if summary.snapshot_id else None
    gridsync = _command_name()
    print(f"\ndemo finished in {time.perf_counter() - started:.1f}s. Where to look:")
    print(f"  source systems : {args.out / 'systems'} (SQLite; ground truth in truth.parquet)")
    print(f"  warehouse      : {current_snapshot(layout).database}")
    if report is not None:
        print(f"  auditors' report: {report}")
    print(f'  try            : {gridsync} query --warehouse {warehouse} "select * from resident limit 5"')
    credentials = _demo_credentials(args.out / "credentials", settings)
    if "social_security" in credentials:
        print(
            f"                   GRIDSYNC_CREDENTIAL=$(cat {credentials['social_security']}) {gridsync} query"
            f" --warehouse {warehouse} --department social_security --purpose 'pension check'"
            ' "select * from resident where is_deceased limit 5"'
        )
    print(
        f"  credentials    : {args.out / 'credentials'} (one per department; rotate: {gridsync} credentials)"
    )
    return 0 if summary.succeeded else 1


def _demo_credentials(folder: Path, settings: Settings) -> dict[str, Path]:
    """Issue a credential to each department with a grant, written to ``folder/<department>``."""
    from pipelines.grants import load_grants
    from pipelines.principals import issue_credential

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = {}
    for grant in load_grants(settings.grants_dir):
        path = folder / grant.department
        path.touch(mode=0o600)
        path.write_text(issue_credential(settings, grant.department, "department") + "\n", encoding="utf-8")
        written[grant.department] = path
    return written


def _demo_report(layout: WarehouseLayout, out: Path, settings: Settings) -> Path:
    """Write the auditors' report of the demo's live snapshot; return the page."""
    from pipelines.report.render import build_report

    titles = {c.name: c.title for c in load_contracts(settings.sources_dir)}
    return Path(build_report(layout, out, None, titles).report)


def _command_name() -> str:
    """How the user called gridsync (e.g. ``.venv/bin/gridsync``), for commands we suggest."""
    called = Path(sys.argv[0])
    return str(called) if called.name == "gridsync" and called.parent != Path() else "gridsync"


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Write the auditors' report of the live (or a past) snapshot and the correction lists."""
    from pipelines.report.render import build_report

    try:
        titles = {c.name: c.title for c in load_contracts(args.sources)}
    except ContractError:
        titles = {}  # titles are a courtesy; a report of a warehouse needs no contracts
    files = build_report(WarehouseLayout(args.warehouse), args.out, args.snapshot, titles)
    print(f"report      : {files.report}")
    print(f"past runs   : {files.index}")
    for correction in files.corrections:
        print(f"corrections : {correction.path} ({correction.rows} problems)")
    return 0


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """Run every check again on the live snapshot; exit 1 when a blocking check fails."""
    from pipelines.quality.validate import validate_snapshot

    snapshot = current_snapshot(WarehouseLayout(args.warehouse))
    outcome = validate_snapshot(snapshot, load_contracts(args.sources))
    for result in outcome.results:
        if not result.is_passed:
            print(f"{result.severity:<6}{result.headline}")
    print(f"snapshot {snapshot.snapshot_id}: {len(outcome.results)} checks run")
    outcome.raise_if_blocked()
    return 0


def cmd_airflow(args: argparse.Namespace, settings: Settings) -> int:
    """Run Airflow locally against gridsync until Ctrl-C."""
    from pipelines.airflow_local import AirflowSetup, run_local

    setup = AirflowSetup(
        home=args.home.resolve(),
        database_url=args.database_url,
        port=args.port,
        executor=args.executor,
        broker_url=args.broker_url,
    )
    return run_local(setup, settings.environ, _progress(time.perf_counter()))


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="gridsync", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="build demo department systems and run the whole flow")
    demo.add_argument("--residents", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=20261127)
    demo.add_argument("--out", type=Path, default=DEMO_ROOT)
    demo.add_argument("--profile", default="wuchang", help="district profile: a built-in name or a YAML file")
    demo.add_argument("--errors", type=Path, help="YAML file of rates and shares laid over the profile")
    demo.set_defaults(handler=cmd_demo)

    run = commands.add_parser("run", help="run the whole flow once for every contract")
    run.add_argument("--sources", type=Path, default=settings.sources_dir)
    run.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    run.set_defaults(handler=cmd_run)

    sync = commands.add_parser("sync", help="extract and stage one source")
    sync.add_argument("contract", type=Path, help="the source contract (YAML)")
    sync.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    sync.set_defaults(handler=cmd_sync)

    reconcile = commands.add_parser("reconcile", help="resolve identities and publish a snapshot")
    reconcile.add_argument("--sources", type=Path, default=settings.sources_dir)
    reconcile.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    reconcile.set_defaults(handler=cmd_reconcile)

    release = commands.add_parser(
        "release", help="list batches held back by a blocking check, or release one to be published"
    )
    release.add_argument("source", nargs="?", help="the source of the held batch")
    release.add_argument("batch", nargs="?", help="the held batch id")
    release.add_argument("--by", default=None, help="who releases it (kept with the release)")
    release.add_argument("--note", default=None, help="why")
    release.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    release.set_defaults(handler=cmd_release)

    query = commands.add_parser("query", help="run a read-only SQL query on the live snapshot")
    query.add_argument("sql")
    query.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    query.add_argument("--department", default=None, help="a declared department (needs its credential)")
    query.add_argument("--purpose", default=None, help="why (required with --department; logged)")
    query.add_argument("--snapshot", default=None, help="a past snapshot: its id, or a date (time travel)")
    query.add_argument("--credential-file", type=Path, default=None, help="else GRIDSYNC_CREDENTIAL")
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.set_defaults(handler=cmd_query)

    credentials = commands.add_parser("credentials", help="issue, rotate, revoke or list credentials")
    credentials.add_argument("action", choices=["issue", "rotate", "revoke", "list"])
    credentials.add_argument("--principal", default=None, help="a department, reviewer or auditor name")
    credentials.add_argument("--role", choices=["department", "reviewer", "auditor"], default="department")
    credentials.add_argument(
        "--department", default=None, help="the department a department principal acts for"
    )
    credentials.add_argument(
        "--out", type=Path, default=None, help="write the credential to this file (0600)"
    )
    credentials.add_argument("--format", choices=["table", "csv", "json"], default="table")
    credentials.set_defaults(handler=cmd_credentials)

    serve = commands.add_parser("serve", help="serve the warehouse over HTTP(S) to departments")
    serve.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate: serve HTTPS")
    serve.add_argument("--tls-key", type=Path, default=None, help="its private key")
    serve.set_defaults(handler=cmd_serve)

    catalogue = commands.add_parser("catalogue", help="the data catalogue (目录) of the published tables")
    catalogue.add_argument("--out", type=Path, default=None, help="write it here (.json or .csv)")
    catalogue.add_argument("--sources", type=Path, default=settings.sources_dir)
    catalogue.add_argument("--grants", type=Path, default=settings.grants_dir)
    catalogue.set_defaults(handler=cmd_catalogue)

    access_log = commands.add_parser("access-log", help="show or verify the access log")
    access_log.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    access_log.add_argument("--principal", default=None)
    access_log.add_argument("--limit", type=int, default=100)
    access_log.add_argument("--verify", action="store_true", help="check that no line was changed or removed")
    access_log.add_argument("--format", choices=["table", "csv", "json"], default="table")
    access_log.set_defaults(handler=cmd_access_log)

    evaluate = commands.add_parser("evaluate", help="score the crosswalk against ground truth")
    evaluate.add_argument("--warehouse", type=Path, default=DEMO_ROOT / "warehouse")
    evaluate.add_argument("--truth", type=Path, default=DEMO_ROOT / "systems" / "truth.parquet")
    evaluate.add_argument("--before-snapshot", default=None, help="measure id stability since this snapshot")
    evaluate.set_defaults(handler=cmd_evaluate)

    review = commands.add_parser("review", help="list uncertain matches, or record a reviewer's decision")
    review.add_argument("records", nargs="*", help="two record references source:record_id to decide on")
    verdict = review.add_mutually_exclusive_group()
    verdict.add_argument("--same", action="store_true", help="the two records are the same person")
    verdict.add_argument("--not-same", action="store_true", help="the two records are different people")
    verdict.add_argument(
        "--approve", action="store_true", help="approve another reviewer's proposed decision"
    )
    review.add_argument("--note", default=None, help="why (required for a pair not up for review)")
    review.add_argument("--credential-file", type=Path, default=None, help="else GRIDSYNC_CREDENTIAL")
    review.add_argument("--limit", type=int, default=50)
    review.add_argument("--format", choices=["table", "csv", "json"], default="table")
    review.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    review.set_defaults(handler=cmd_review)

    report = commands.add_parser("report", help="write the auditors' report and correction lists")
    report.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    report.add_argument("--out", type=Path, required=True)
    report.add_argument("--snapshot", default=None, help="a past snapshot id (default: the live one)")
    report.add_argument("--sources", type=Path, default=settings.sources_dir)
    report.set_defaults(handler=cmd_report)

    validate = commands.add_parser("validate", help="run the quality checks on the live snapshot")
    validate.add_argument("--warehouse", type=Path, default=settings.warehouse_dir)
    validate.add_argument("--sources", type=Path, default=settings.sources_dir)
    validate.set_defaults(handler=cmd_validate)

    airflow = commands.add_parser(
        "airflow", help="run Airflow locally (PostgreSQL metadata, DAGs from dags/, UI on 127.0.0.1)"
    )
    airflow.add_argument("--port", type=int, default=8080)
    airflow.add_argument("--executor", choices=["local", "celery"], default="local")
    airflow.add_argument("--home", type=Path, default=settings.airflow_home)
    airflow.add_argument("--database-url", default=settings.airflow_database_url)
    airflow.add_argument("--broker-url", default=settings.airflow_broker_url)
    airflow.set_defaults(handler=cmd_airflow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridsync`` console script."""
    settings = Settings.from_env()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser(settings).parse_args(argv)
    try:
        return int(args.handler(args, settings))
    except EXPECTED_ERRORS as failure:
        print(f"gridsync: {failure}", file=sys.stderr)
        return 1
    except Exception as failure:
        if args.debug:
            raise
        first_line = (str(failure).splitlines() or [""])[0]
        print(
            f"gridsync: {type(failure).__name__}: {first_line} (--debug shows where)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
