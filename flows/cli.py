"""``infusion-audit``: the command line.

Commands:
  audit    files in, files out; no lake, no Prefect server needed
  ingest   validate one night's extracts into the lake (Prefect flow)
  nightly  ingest, then audit that service date (default yesterday) (Prefect flow)
  backfill a date range, one cached task per day; --force recomputes
  serve    the nightly deployment on a Cron schedule, against a real Prefect server
  demo     generate synthetic days with injected errors and run nightly on each
  report   (re)write a run's self-contained HTML report, with the trend across the lake's days
  explain  one encounter's timeline, expected lines and findings from a run folder
  formats  the input formats (canonical, FHIR, CLIF, EHR mapping profiles, X12) it reads
  clif     map CLIF medication tables (e.g. the MIMIC-IV demo) onto the MAR, validate, code
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

import flows  # noqa: F401  (telemetry off before anything imports Prefect or GX)
from flows.console import configure_logging, progress
from flows.settings import Settings
from transforms.vocab.policy import load_policy
from transforms.ingest.readers import ExtractError
from transforms.ingest.usability import UnusableExtract


#: Exit code of a run refused by the usability gate (flows.pipeline.check_usable).
EXIT_UNUSABLE = 3
EXTRACTS_DEFAULT = os.environ.get("INFUSION_AUDIT_EXTRACTS", "data/extracts")
MAR_HELP = "MAR extract: a file or folder, any supported format; may be given more than once"
CLAIMS_HELP = "claim lines: a file or folder (canonical CSV/Parquet or X12 837); may be given more than once"


def _settings(args: argparse.Namespace) -> Settings:
    """The run's settings: the environment once, then this command's options."""
    settings = Settings.from_env()
    overrides = dict(kv.split("=", 1) for kv in (getattr(args, "set", None) or []))
    profile, policy_file = getattr(args, "policy", None), getattr(args, "policy_file", None)
    if profile or policy_file or overrides:
        settings = settings.with_(policy=load_policy(
            profile or settings.policy.name, Path(policy_file) if policy_file else None, overrides
        ))
    if getattr(args, "tz", None):
        settings = settings.with_(facility_tz=args.tz)
    if getattr(args, "lake", None):
        settings = settings.with_(lake_root=Path(args.lake))
    if getattr(args, "payer_map", None):
        settings = settings.with_(payer_map=Path(args.payer_map))
    if settings.payer_map is not None:
        from transforms.payers import load_payer_map

        load_payer_map(settings.payer_map)  # refuse a bad map now (exit 2), before any file is read
    if getattr(args, "drugs", None):
        settings = settings.with_(drug_list=Path(args.drugs))
    if getattr(args, "fees", None):
        settings = settings.with_(fee_schedule=Path(args.fees))
    if getattr(args, "ncci_dir", None):
        settings = settings.with_(ncci_dir=Path(args.ncci_dir))
    if getattr(args, "mar_format", None):
        settings = settings.with_(mar_format=args.mar_format)
    if getattr(args, "claims_format", None):
        settings = settings.with_(claims_format=args.claims_format)
    if getattr(args, "x12_account", None):
        settings = settings.with_(x12_account_ref=args.x12_account)
    if getattr(args, "max_quarantine_share", None) is not None:
        settings = settings.with_(max_quarantine_share=args.max_quarantine_share)
    if getattr(args, "processes", None) is not None:
        settings = settings.with_(audit_processes=args.processes)
    if getattr(args, "dask", None):
        from flows.runners import check_address

        settings = settings.with_(dask_address=check_address(args.dask))
    return settings


def _paths(values: list[str]) -> list[Path]:
    """``--mar`` / ``--claims`` given once or more: files or folders."""
    return [Path(v) for v in values]


def _print_summary(summary: dict, out_dir: Path) -> None:
    from transforms.outputs.summary import set_aside_lines

    print(f"report:   {out_dir / 'report.html'}")
    print(f"findings: {out_dir / 'findings.csv'}")
    print(f"expected: {out_dir / 'expected_codes.csv'}")
    if (out_dir / "run.log").exists():
        print(f"log:      {out_dir / 'run.log'} (Prefect and Great Expectations; -v shows them here)")
    for kind, c in summary["rows"].items():
        print(f"{kind:8s} rows in {c['rows_in']}, kept {c['rows_kept']}, quarantined {c['rows_quarantined']}")
    for line in set_aside_lines(summary):
        print(f"  {line}")
    print(f"findings: {summary['findings']} on {summary['encounters_with_findings']} of "
          f"{summary['encounters_audited']} encounters")
    for key, n in summary["findings_by_key"].items():
        print(f"  {key:40s} {n:6d}")


def cmd_audit(args: argparse.Namespace) -> int:
    from flows.pipeline import AUDIT_FILES_STEPS, audit_files

    truth = None
    if args.truth:
        import pandas as pd

        truth = pd.read_csv(args.truth, dtype=str, keep_default_na=False).replace({"": None})
    out = Path(args.out)
    remits = _paths(args.remits) if args.remits else None
    # One bar for a long audit (a terminal only): each step of the run as it starts.
    with progress(len(AUDIT_FILES_STEPS), "audit", enabled=not args.verbose, label=AUDIT_FILES_STEPS[0]) as advance:
        summary = audit_files(_paths(args.mar), _paths(args.claims), out, _settings(args), truth, remits, advance)
    _print_summary(summary, out)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from flows.ingest import ingest_flow

    day = args.date
    settings = _settings(args)
    counts = ingest_flow(day, _paths(args.mar), _paths(args.claims), settings, settings.run_dir(day))
    print(json.dumps(counts, indent=2))
    return 0


def cmd_nightly(args: argparse.Namespace) -> int:
    from flows.audit import run_nightly
    from flows.pipeline import extract_paths, yesterday

    settings = _settings(args)
    day = args.date or yesterday(settings.facility_tz)
    if args.mar and args.claims:
        mar, claims = _paths(args.mar), _paths(args.claims)
    else:
        mar, claims = extract_paths(Path(args.extracts), day)
    out = Path(args.out) if args.out else settings.run_dir(day)
    summary = run_nightly(day, mar, claims, settings, out)
    _print_summary(summary, out)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from flows.backfill import run_backfill

    settings = _settings(args)
    result = run_backfill(args.start, args.end, Path(args.extracts), settings, force=args.force,
                          progress=not args.verbose)
    for status in ("computed", "cached", "skipped", "failed"):
        print(f"{status:9s} {len(result[status]):4d}  {' '.join(result[status])}")
    done = result["computed"] + result["cached"]
    if done:
        runs = settings.run_dir(date.fromisoformat(done[0])).parent
        print(f"reports:  {runs}/<date>/report.html (e.g. {runs / done[-1] / 'report.html'})")
    print(f"log:      {log_file(args)}")
    for day in result["failed"] + result["skipped"]:
        print(f"  {day}: {result['days'][day]['reason']}", file=sys.stderr)
    if any(str(result["days"][day]["reason"]).startswith(UnusableExtract.__name__) for day in result["failed"]):
        return EXIT_UNUSABLE
    return 1 if result["failed"] else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.deploy import serve_nightly

    serve_nightly(Path(args.extracts), _settings(args), cron=args.cron, name=args.name)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(Path(args.out), days=args.days, encounters_per_day=args.encounters, seed=args.seed,
                    settings=_settings(args))


def cmd_explain(args: argparse.Namespace) -> int:
    import pandas as pd

    from transforms.outputs.explain import explain_encounter

    run = Path(args.run)
    tables = {}
    for name in ("administrations", "expected_codes", "findings"):
        path = run / f"{name}.csv"
        if not path.exists():
            raise ValueError(f"{path}: not found; --run must be the output folder of an audit")
        tables[name] = pd.read_csv(path, dtype=str, keep_default_na=False)
    try:
        print(explain_encounter(args.encounter_id, tables["administrations"], tables["expected_codes"],
                                tables["findings"]), end="")
    except KeyError as exc:
        print(f"infusion-audit: {exc.args[0]}", file=sys.stderr)
        return 1
    return 0


FORMAT_NOTES = {
    "canonical": "the contract's CSV or Parquet columns (docs: README, Input formats)",
    "fhir": "FHIR MedicationAdministration R4, R4B or R5: $export NDJSON, a Bundle, or a folder of them",
    "clif": "CLIF medication tables: a folder of clif_*.parquet (the `clif` command reads them too)",
    "x12": "X12 837I (005010X223A2) or 837P (005010X222A1) claim files",
}


def cmd_formats(args: argparse.Namespace) -> int:
    """The input formats and shipped mapping profiles."""
    from transforms.ingest.inputs import mapping_profiles

    print("MAR formats (--mar-format; default: told from each file's content):")
    for name in ("canonical", "fhir", "clif"):
        print(f"  {name:12s} {FORMAT_NOTES[name]}")
    for name in mapping_profiles():
        print(f"  {name:12s} EHR MAR report through the shipped mapping profile {name}.toml")
    print(f"  {'FILE.toml':12s} your own mapping file: copy a shipped profile, edit it, pass its path")
    print("claims formats (--claims-format):")
    for name in ("canonical", "x12"):
        print(f"  {name:12s} {FORMAT_NOTES[name]}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import date as _date

    from flows.pipeline import lake_trend
    from transforms.outputs.report_html import render_run_dir

    run = Path(args.run)
    if not (run / "findings.csv").exists():
        raise ValueError(f"{run}: no findings.csv; --run must be the output folder of an audit")
    trend = None
    if args.lake:
        trend = lake_trend(_settings(args).with_(lake_root=Path(args.lake)), args.until or _date.max)
    out = run / "report.html"
    out.write_text(render_run_dir(run, trend=trend, top_n=args.top), encoding="utf-8")
    print(f"report: {out}")
    return 0


def iso_date(text: str) -> date:
    """A date option: ``YYYY-MM-DD`` only (argparse names the option in its message)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-02") from None


def _share(text: str) -> float:
    """``--max-quarantine-share``: a number from 0 to 1."""
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {text}")
    return share


def _whole(text: str) -> int:
    """``--processes``: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def _add_settings_options(p: argparse.ArgumentParser, tz_default: str | None = None) -> None:
    """The options every auditing command shares: policy, time zone and reference tables."""
    p.add_argument("--policy", help="policy profile: cms_facility (default) or commercial_cpt")
    p.add_argument("--policy-file", help="TOML file of policy settings")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one policy setting")
    p.add_argument("--payer-map", metavar="CSV", help="payer_id,policy_profile rows: each payer's claims audited by "
                   "its profile (row `*`: payers not listed); default $INFUSION_AUDIT_PAYER_MAP, else every "
                   "claim by --policy")
    p.add_argument("--tz", default=tz_default, help="facility time zone (default "
                   + (tz_default or "$INFUSION_AUDIT_TZ or America/New_York") + ")")
    p.add_argument("--drugs", help="your own drug list CSV, same columns as transforms/reference/tables/drugs.csv")
    p.add_argument("--fees", help="fee schedule CSV (hcpcs, setting, amount, status_indicator); "
                   "default: the illustrative sample in transforms/reference/tables")
    p.add_argument("--ncci-dir", help="folder of CMS MUE CSVs and NCCI PTP files to check units and pairs")
    p.add_argument("--mar-format", help="force the MAR format: canonical, fhir, clif, a mapping profile "
                   "(see `infusion-audit formats`) or a mapping file path (default: told from each file)")
    p.add_argument("--claims-format", choices=("canonical", "x12"),
                   help="force the claims format (default: told from each file)")
    p.add_argument("--x12-account", choices=("CLM01", "REF[D9]", "REF[EA]"),
                   help="where an 837 carries the hospital account (the encounter; default CLM01)")
    p.add_argument("--max-quarantine-share", type=_share, metavar="SHARE",
                   help="share 0..1 of an extract's rows that may be quarantined; more, or a vocabulary column "
                   "(action, route, claim_type, hcpcs...) rejected as a whole, refuses the run with exit 3 "
                   "(default $INFUSION_AUDIT_MAX_QUARANTINE_SHARE or 0.05; 1 audits whatever is left)")
    p.add_argument("--processes", type=_whole, metavar="N",
                   help="processes that audit a day's shards at once: this one and N-1 helpers, each holding one "
                   "shard's working memory (default $INFUSION_AUDIT_PROCESSES or the CPUs, at most 2; same outputs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-audit",
        description="Audit drug-administration claim lines (CPT 96360-96379, 96401-96549) against the MAR.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  infusion-audit audit --mar mar.csv --claims claims.csv --out out/   # one-off, no lake, no server
  infusion-audit explain E123 --run out/                              # why E123 got its findings
  infusion-audit nightly                                              # yesterday's extracts under data/extracts/<date>/
  infusion-audit backfill --start 2025-01-01 --end 2025-12-31         # unchanged days come from the cache
  infusion-audit backfill --start 2025-01-01 --end 2025-12-31 --dask local:2   # days on 2 worker processes
  infusion-audit serve                                                # Cron schedule; needs `prefect server start`

Outputs per run: expected_codes.csv, findings.csv, quarantine.csv, report.html, validation/.
Policies (--policy cms_facility|commercial_cpt, --set KEY=VALUE) are listed in the README.

exit codes:
  0  done
  1  backfill: at least one day failed (listed on stderr); explain: no such encounter
  2  an input or option cannot be used: unreadable file, missing column or extract folder, bad setting
  3  an extract was refused as unusable: more than --max-quarantine-share of its rows quarantined, or
     every value of a vocabulary column (action, route, claim_type, hcpcs...) rejected; nothing was
     audited and no findings were published (audit: the --out folder holds quarantine.csv,
     validation/ and unusable.txt)""",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_file_parsers(sub)
    _add_lake_parsers(sub)
    _add_reading_parsers(sub)
    _add_clif_parser(sub)
    for command in sub.choices.values():
        command.add_argument("-v", "--verbose", action="store_true",
                             help="also show the library logs (Prefect, Great Expectations) on the console; "
                             "they always go to the run folder's run.log")
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks across options, made before any file is read or any server starts (argparse's exit 2)."""
    if args.command == "backfill" and args.end < args.start:
        parser.error(f"argument --end: {args.end} is before --start {args.start}")
    if args.command == "nightly" and bool(args.mar) != bool(args.claims):
        parser.error("give both --mar and --claims, or neither (then <extracts>/<date>/ is read)")


def log_file(args: argparse.Namespace) -> Path | None:
    """Where this command's library logs go (:mod:`flows.console`): the run folder's ``run.log``."""
    from flows.console import LOG_FILE

    if args.command in ("audit", "clif"):
        return Path(args.out) / LOG_FILE
    if args.command == "demo":
        return Path(args.out) / "demo.log"
    if args.command in ("ingest", "nightly", "backfill"):
        settings = _settings(args)
        if args.command == "backfill":
            return settings.run_dir(args.start).parent / f"backfill-{args.start}-{args.end}.log"
        if args.command == "nightly" and args.out:
            return Path(args.out) / LOG_FILE
        from flows.pipeline import yesterday

        return settings.run_dir(args.date or yesterday(settings.facility_tz)) / LOG_FILE
    return None


def _lake_and_extracts(p: argparse.ArgumentParser, extracts: bool = True) -> None:
    p.add_argument("--lake", help="lake root (default $INFUSION_AUDIT_LAKE or data/lake)")
    if extracts:
        p.add_argument("--extracts", default=EXTRACTS_DEFAULT, help="folder of <YYYY-MM-DD>/ extract folders "
                       "(default $INFUSION_AUDIT_EXTRACTS or data/extracts)")


def _add_file_parsers(sub: argparse._SubParsersAction) -> None:
    """``audit`` (files in, files out) and ``demo``."""
    p = sub.add_parser("audit", help="files in, files out (no lake, no Prefect)")
    p.add_argument("--mar", required=True, action="append", help=MAR_HELP)
    p.add_argument("--claims", required=True, action="append", help=CLAIMS_HELP)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--remits", action="append", help="X12 835 remittance file or folder: paid amounts replace "
                   "the fee schedule's estimate in the dollar impact of paid lines; may be given more than once")
    p.add_argument("--truth", help="ground-truth CSV of the synthetic generator, to score the audit")
    _add_settings_options(p)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("demo", help="synthetic days with injected errors, audited nightly on ephemeral Prefect")
    p.add_argument("--out", default="data/demo", help="demo folder (extracts, lake, runs)")
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--encounters", type=int, default=120, help="encounters per day")
    p.add_argument("--seed", type=int, default=7)
    _add_settings_options(p)
    p.set_defaults(func=cmd_demo)


def _add_lake_parsers(sub: argparse._SubParsersAction) -> None:
    """The commands that run through the lake: ``ingest``, ``nightly``, ``backfill``, ``serve``."""
    p = sub.add_parser("ingest", help="validate one night's extracts into the lake")
    p.add_argument("--date", required=True, type=iso_date, help="service date the extracts cover, YYYY-MM-DD")
    p.add_argument("--mar", required=True, action="append", help=MAR_HELP)
    p.add_argument("--claims", required=True, action="append", help=CLAIMS_HELP)
    _lake_and_extracts(p, extracts=False)
    _add_settings_options(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("nightly", help="ingest one night's extracts, then audit that date (default: yesterday)")
    p.add_argument("--date", type=iso_date, help="service date, YYYY-MM-DD (default: yesterday in the facility time zone)")
    p.add_argument("--mar", action="append", help=MAR_HELP + " (default <extracts>/<date>/mar.*)")
    p.add_argument("--claims", action="append", help=CLAIMS_HELP + " (default <extracts>/<date>/claims.*)")
    p.add_argument("--out", help="run folder (default <lake>/../runs/<date>)")
    p.add_argument("--dask", metavar="ADDRESS", help="audit the day in shards of encounters on Dask (a health "
                   "system's night): local:N or a scheduler address, as for backfill (docs/distributed.md); "
                   "default $INFUSION_AUDIT_DASK or one process")
    _lake_and_extracts(p)
    _add_settings_options(p)
    p.set_defaults(func=cmd_nightly)

    p = sub.add_parser("backfill", help="re-run a date range, one cached task per day (unchanged days are skipped)")
    p.add_argument("--start", required=True, type=iso_date, help="first service date, YYYY-MM-DD")
    p.add_argument("--end", required=True, type=iso_date, help="last service date, YYYY-MM-DD (inclusive)")
    p.add_argument("--force", action="store_true", help="recompute every day, even unchanged ones")
    p.add_argument("--dask", metavar="ADDRESS", help="run the days on Dask: local:N (N local worker processes) or "
                   "a scheduler address such as tcp://host:8786 (needs PREFECT_API_URL and a shared filesystem; "
                   "docs/distributed.md); default $INFUSION_AUDIT_DASK or one process")
    _lake_and_extracts(p)
    _add_settings_options(p)
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("serve", help="serve the nightly deployment on a Cron schedule (needs `prefect server start`)")
    p.add_argument("--cron", default="30 2 * * *", help="Cron schedule in the facility time zone (default 02:30 every day)")
    p.add_argument("--name", default="nightly", help="name of the scheduled deployment (default nightly)")
    _lake_and_extracts(p)
    _add_settings_options(p)
    p.set_defaults(func=cmd_serve)


def _add_reading_parsers(sub: argparse._SubParsersAction) -> None:
    """The commands that read a finished run: ``report`` and ``explain``."""
    p = sub.add_parser("report", help="(re)write a run's self-contained report.html, with the lake's trend")
    p.add_argument("--run", required=True, help="output folder of an audit")
    p.add_argument("--lake", help="lake root, to chart the trend across its days")
    p.add_argument("--until", type=iso_date, help="last audit date of the trend, YYYY-MM-DD (default: all)")
    p.add_argument("--top", type=int, default=10, help="encounters with a timeline chart")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("formats", help="the input formats and the shipped EHR mapping profiles")
    p.set_defaults(func=cmd_formats)

    p = sub.add_parser("explain", help="an encounter's timeline, expected lines with rule ids and evidence, findings")
    p.add_argument("encounter_id")
    p.add_argument("--run", required=True, help="output folder of an audit (audit --out, or runs/<date>)")
    p.set_defaults(func=cmd_explain)


# --- clif -------------------------------------------------------------------
def _add_clif_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clif",
        help="run CLIF medication tables (no claims) through validation and the coding engine",
        description="Map CLIF continuous/intermittent medication-administration tables onto the "
        "canonical MAR (transforms/ingest/adapters/clif.py), validate them, and code the expected "
        "drug-administration lines against an empty claim.",
    )
    p.add_argument("--dir", required=True, help="folder with the four clif_*.parquet tables")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--limit-encounters", type=int, metavar="N",
                   help="only the first N hospitalizations (sorted hospitalization_id)")
    _add_settings_options(p, tz_default="UTC")
    p.add_argument("--top", type=int, default=15, help="how many unclassified drugs to print")
    p.set_defaults(func=cmd_clif)


def cmd_clif(args: argparse.Namespace) -> int:
    """CLIF tables -> map -> validate -> audit against an empty claim -> the run folder."""
    from flows.pipeline import audit_clif

    out = Path(args.out)
    summary = audit_clif(Path(args.dir), out, _settings(args), args.limit_encounters)
    rows = summary["rows"]
    print(f"output:   {out}")
    print(f"rows in {rows['rows_in']} (continuous {rows['rows_continuous']}, intermittent "
          f"{rows['rows_intermittent']}); mapped {rows['rows_mapped']}, unmapped {rows['rows_unmapped']}; "
          f"kept {rows['rows_kept']}, quarantined {rows['rows_quarantined']}")
    print(f"reconcile: {rows['rows_in']} == kept {rows['rows_kept']} + quarantined "
          f"{rows['rows_quarantined']} + unmapped {rows['rows_unmapped']}")
    for title, counts in (("unmapped by reason", summary["unmapped_by_reason"]),
                          ("quarantined by reason", summary["quarantined_by_reason"])):
        print(f"{title}:")
        for reason, n in counts.items():
            print(f"  {n:7d}  {reason}")
    print(f"expected lines: {summary['expected_lines']} on {summary['encounters']['with_expected_lines']} of "
          f"{summary['encounters']['in_mar']} encounters")
    print("  hcpcs    lines    units")
    for code, c in summary["expected_by_hcpcs"].items():
        print(f"  {code:5s}  {c['lines']:7d}  {c['units']:7d}")
    print("expected lines by rule id:")
    for rule, n in summary["expected_by_rule"].items():
        print(f"  {rule:6s} {n:7d}")
    print("administrations by role:")
    for role, n in summary["administrations_by_role"].items():
        print(f"  {role:24s} {n:7d}")
    unknown = list(summary["unknown_drugs"].items())
    print(f"unclassified drugs ({len(unknown)}; administrations):")
    for drug, n in unknown[: max(args.top, 0)]:
        print(f"  {n:7d}  {drug}")
    if not unknown:
        print("  none: every charted drug is in the drug reference")
    print(f"seconds: {summary['seconds']}")
    return 0


# Owner read/write, group read, nothing for others: every run folder, lake
# partition, validation doc, the Prefect database a temporary server creates,
# and whatever a served flow run writes (`serve` starts its runs as child
# processes, which inherit the umask). Set here, at the one entry point, and
# not in flows/__init__.py: importing the package as a library (tests, a
# notebook) must not change the importing process's umask.
UMASK = 0o027


def main(argv: list[str] | None = None) -> int:
    # Telemetry is already off: `import flows` above ran flows/__init__.py,
    # which sets PREFECT_SERVER_ANALYTICS_ENABLED, GX_ANALYTICS_ENABLED and
    # DO_NOT_TRACK (setdefault) before anything imports Prefect or GX.
    os.umask(UMASK)
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    try:
        # Library logs to the run's log file; the console shows this command's
        # own lines (a served deployment is a service: its logs stay on the console).
        configure_logging(log_file(args), verbose=args.verbose or args.command == "serve")
        return int(args.func(args))
    except UnusableExtract as exc:
        print(f"infusion-audit: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except ExtractError as exc:
        print(f"infusion-audit: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"infusion-audit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
