"""``infusion-audit``: the command line.

Commands:
  audit    files in, files out; no lake, no Prefect server needed
  ingest   validate one night's extracts into the lake (Prefect flow)
  nightly  ingest, then audit that service date (Prefect flow)
  demo     generate synthetic days with injected errors and run nightly on each
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import flows  # noqa: F401  (telemetry off before anything imports Prefect or GX)
from flows.settings import Settings
from transforms.policy import load_policy
from transforms.readers import ExtractError


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = dict(kv.split("=", 1) for kv in (args.set or []))
    if args.policy or args.policy_file or overrides:
        settings = settings.with_(policy=load_policy(
            args.policy or settings.policy.name, Path(args.policy_file) if args.policy_file else None, overrides
        ))
    if getattr(args, "tz", None):
        settings = settings.with_(facility_tz=args.tz)
    if getattr(args, "lake", None):
        settings = settings.with_(lake_root=Path(args.lake))
    if getattr(args, "drugs", None):
        settings = settings.with_(drug_list=Path(args.drugs))
    return settings


def _print_summary(summary: dict, out_dir: Path) -> None:
    print(f"report:   {out_dir / 'report.md'}")
    print(f"findings: {out_dir / 'findings.csv'}")
    print(f"expected: {out_dir / 'expected_codes.csv'}")
    for kind, c in summary["rows"].items():
        print(f"{kind:8s} rows in {c['rows_in']}, kept {c['rows_kept']}, quarantined {c['rows_quarantined']}")
    print(f"findings: {summary['findings']} on {summary['encounters_with_findings']} of "
          f"{summary['encounters_audited']} encounters")
    for key, n in summary["findings_by_key"].items():
        print(f"  {key:40s} {n:6d}")


def cmd_audit(args: argparse.Namespace) -> int:
    from flows.pipeline import audit_files

    truth = None
    if args.truth:
        import pandas as pd

        truth = pd.read_csv(args.truth, dtype=str, keep_default_na=False).replace({"": None})
    out = Path(args.out)
    summary = audit_files(Path(args.mar), Path(args.claims), out, _settings(args), truth)
    _print_summary(summary, out)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from flows.ingest import ingest_flow

    counts = ingest_flow(date.fromisoformat(args.date), Path(args.mar), Path(args.claims), _settings(args))
    print(json.dumps(counts, indent=2))
    return 0


def cmd_nightly(args: argparse.Namespace) -> int:
    from flows.audit import nightly_flow

    settings = _settings(args)
    day = date.fromisoformat(args.date)
    out = Path(args.out) if args.out else settings.lake_root.parent / "runs" / day.isoformat()
    summary = nightly_flow(day, Path(args.mar), Path(args.claims), settings, out)
    _print_summary(summary, out)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(Path(args.out), days=args.days, encounters_per_day=args.encounters, seed=args.seed,
                    settings=_settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infusion-audit",
        description="Audit drug-administration claim lines (CPT 96360-96379, 96401-96549) against the MAR.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--policy", help="policy profile: cms_facility (default) or commercial_cpt")
        p.add_argument("--policy-file", help="TOML file of policy settings")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one policy setting")
        p.add_argument("--tz", help="facility time zone (default $INFUSION_AUDIT_TZ or America/New_York)")
        p.add_argument("--drugs", help="your own drug list CSV, same columns as data/reference/drugs.csv")

    p = sub.add_parser("audit", help="files in, files out (no lake, no Prefect)")
    p.add_argument("--mar", required=True, help="MAR events extract (.csv or .parquet)")
    p.add_argument("--claims", required=True, help="claim lines extract (.csv or .parquet)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--truth", help="ground-truth CSV of the synthetic generator, to score the audit")
    common(p)
    p.set_defaults(func=cmd_audit)

    for name, func, helptext in (
        ("ingest", cmd_ingest, "validate one night's extracts into the lake"),
        ("nightly", cmd_nightly, "ingest one night's extracts, then audit that date"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--date", required=True, help="service date the extracts cover, YYYY-MM-DD")
        p.add_argument("--mar", required=True)
        p.add_argument("--claims", required=True)
        p.add_argument("--lake", help="lake root (default $INFUSION_AUDIT_LAKE or data/lake)")
        if name == "nightly":
            p.add_argument("--out", help="run folder (default <lake>/../runs/<date>)")
        common(p)
        p.set_defaults(func=func)

    p = sub.add_parser("demo", help="synthetic days with injected errors, audited nightly on ephemeral Prefect")
    p.add_argument("--out", default="data/demo", help="demo folder (extracts, lake, runs)")
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--encounters", type=int, default=120, help="encounters per day")
    p.add_argument("--seed", type=int, default=7)
    common(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ExtractError as exc:
        print(f"infusion-audit: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"infusion-audit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
