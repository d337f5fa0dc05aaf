"""Composition root: the named stages of every run, and the only place they are glued.

Stages, each with typed inputs and outputs::

    load      extract file(s) -> LoadedExtract      raw rows and rows mapped onto the contract
    validate  LoadedExtract   -> ValidatedExtract   Great Expectations; kept + quarantined rows
    audit     kept MAR + claims -> AuditResult      the pure engine and findings (transforms.audit)
    write     AuditResult     -> run folder         contract files, worklist, summary, reports

and the gate between validation and the audit (:func:`check_usable`,
:func:`check_day`: a broken extract never becomes findings), and the lake steps
(:func:`stage_day`, :func:`commit_inputs`, :func:`load_day_from_lake`,
:func:`publish_day`: each night's datasets in one transaction). Whole runs are
composed here too: :func:`audit_files` (files in, files out), :func:`ingest_day`,
:func:`nightly_day` (ingest, then audit one day through the lake),
:func:`audit_clif` (CLIF tables). The CLI, every Prefect flow and task, the
backfill, the bench and the tests call these functions and nothing else glues
stages together, so a new input format is a change to :func:`load` and a new
task runner a change to the flows only.

Nothing here imports Prefect: the same functions run with or without an
orchestrator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from expectations.runner import validate_extract
from flows.lake_arrow import extract_bytes, use_default_arrow, use_lake_arrow
from flows.shard_audit import audit_shard
from flows.shard_workers import Helpers, helper_cut, map_shards
from flows.settings import Settings
from transforms.audit import UNREAD_INPUT_COLUMNS, AuditResult, StepSeconds
from transforms.frames import expand_text
from transforms.ingest.formats import CANONICAL
from transforms.ingest.formats import detect as detect_formats
from transforms.ingest.inputs import combine_parts, mapping_profiles, read_format
from transforms.ingest.quarantine import reconcile, split_quarantine
from transforms.ingest.readers import stage_claims, stage_mar
from transforms.ingest.usability import VOCABULARY_COLUMNS, UnusableExtract, Usability, assess, refusal_message
from transforms.memory import release_freed_memory
from transforms.outputs import lake, lake_claims, lake_window
from transforms.outputs.files import begin_run_dir, publish_run_dir, write_run_files
from transforms.outputs.report_html import TREND_COLUMNS, trend_from_findings, trend_from_nights
from transforms.outputs.summary import summarise
from transforms.shards import Shard, encounters_of, iter_shards, take_results, take_shards
from transforms.vocab.schemas import (
    AUDITED_ARROW, CLAIM_ARROW, CLAIM_LINE_KEY, EXPECTED_ARROW, FINDINGS_ARROW, MAR_ARROW, MAR_EVENT_KEY,
)

log = logging.getLogger("infusion_audit")

EXTRACT_KINDS: tuple[str, ...] = ("mar", "claims")
EXTRACT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
LAKE_DATASET = {"mar": "mar_events", "claims": "claim_lines"}
LAKE_SCHEMA = {"mar": MAR_ARROW, "claims": CLAIM_ARROW}


#: One extract's inputs: a file, a folder, or several of them.
Inputs = Path | Sequence[Path]


class MissingExtracts(ValueError):
    """A service date whose extract folder or files are missing or ambiguous."""


@dataclass(frozen=True)
class LoadedExtract:
    """One extract as read (``raw``) and mapped onto the contract (``staged``), row for row.

    ``unmapped`` holds the input records an adapter could not map (already
    quarantine rows with their reasons); they count as rows in. :func:`load`
    stages text compact (``Categorical`` of ``str``, ``stage_*(compact=True)``):
    ``staged`` and the kept frames after it hold one small code per text
    cell; the engine expands them per shard (:func:`transforms.audit.run_audit`).
    """

    kind: str
    raw: pd.DataFrame
    staged: pd.DataFrame
    unmapped: pd.DataFrame | None = None
    formats: tuple[str, ...] = (CANONICAL,)


@dataclass(frozen=True)
class ValidatedExtract:
    """One extract after validation. ``counts`` always reconciles:
    ``rows_in == rows_kept + rows_quarantined``."""

    kind: str
    kept: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict[str, int]


# --- where a day's extracts are ------------------------------------------------

def extract_paths(extracts_root: Path, day: date) -> tuple[list[Path], list[Path]]:
    """The MAR and claims inputs of ``day`` in ``<root>/<YYYY-MM-DD>/``.

    Every file named ``mar.<ext>`` (``mar.csv``, ``mar.parquet``,
    ``mar.ndjson``...) or a folder named ``mar`` is the MAR extract; likewise
    ``claims.<ext>`` (``claims.csv``, ``claims.837``...) or ``claims/``.

    Raises:
        MissingExtracts: no folder for the day, a kind missing, or both a
            ``.csv`` and a ``.parquet`` for one kind (the same rows twice).
    """
    folder = Path(extracts_root) / day.isoformat()
    if not folder.is_dir():
        raise MissingExtracts(f"no extract folder {folder}; --extracts names the folder that holds one "
                              f"<YYYY-MM-DD>/ folder per night (the demo writes data/demo/extracts)")
    found = []
    for kind in EXTRACT_KINDS:
        hits = sorted(p for p in folder.iterdir() if p.name == kind or p.name.startswith(f"{kind}."))
        if not hits:
            raise MissingExtracts(f"no {kind}.csv, {kind}.parquet or other {kind}.* input in {folder}; add it")
        twins = [p for p in hits if p.suffix in EXTRACT_SUFFIXES]
        if len(twins) > 1:
            raise MissingExtracts(f"both {twins[0].name} and {twins[1].name} in {folder}; keep one")
        found.append(hits)
    return found[0], found[1]


def yesterday(facility_tz: str, today: date | None = None) -> date:
    """The day before ``today`` (default: today on the facility's wall clock)."""
    today = today or datetime.now(ZoneInfo(facility_tz)).date()
    return today - timedelta(days=1)


# --- the stages ---------------------------------------------------------------------

def load(paths: Inputs, kind: str, settings: Settings) -> LoadedExtract:
    """Read one extract (one or more files or folders, any supported format) and
    map it onto the contract (UTC times, typed columns).

    Each file's format is told from its content unless the settings force one
    (``mar_format``: ``canonical``, ``fhir``, ``clif``, a mapping-profile name
    or a mapping file path; ``claims_format``: ``canonical`` or ``x12``); see
    :mod:`transforms.ingest.formats`.

    Raises:
        transforms.ingest.readers.ExtractError: a file cannot be used at all.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    forced = settings.mar_format if kind == "mar" else settings.claims_format
    groups = detect_formats(paths, kind, forced, profiles=mapping_profiles())
    parts = [read_format(files, kind, name, settings.x12_account_ref) for name, files in groups.items()]
    raw, unmapped = combine_parts(parts)
    # Text staged compact (Categorical): expanded per shard at the audit (transforms.audit.run_audit).
    staged = stage_mar(raw, settings.facility_tz, compact=True) if kind == "mar" else stage_claims(raw, compact=True)
    return LoadedExtract(kind=kind, raw=raw, staged=staged, unmapped=unmapped, formats=tuple(groups))


def validate(loaded: LoadedExtract, docs_dir: Path | None = None) -> ValidatedExtract:
    """Run the extract's expectation suite; split kept and quarantined rows.

    Raises:
        AssertionError: the counts do not reconcile (a bug, never bad data).
    """
    outcome = validate_extract(loaded.staged, loaded.kind, docs_dir=docs_dir)  # type: ignore[arg-type]
    kept, quarantine = split_quarantine(loaded.staged, loaded.raw, outcome.failures, loaded.kind)  # type: ignore[arg-type]
    if loaded.unmapped is not None and len(loaded.unmapped):
        quarantine = pd.concat([quarantine, loaded.unmapped], ignore_index=True).sort_values("row", kind="mergesort")
        quarantine = quarantine.reset_index(drop=True)
    unmapped = 0 if loaded.unmapped is None else len(loaded.unmapped)
    counts = reconcile(len(loaded.raw) + unmapped, kept, quarantine)
    log.info("%s extract: %d rows in, %d kept, %d quarantined", loaded.kind, *counts.values())
    return ValidatedExtract(kind=loaded.kind, kept=kept, quarantine=quarantine, counts=counts)


def load_and_validate(
    paths: Inputs, kind: str, settings: Settings, docs_dir: Path | None = None,
) -> ValidatedExtract:
    """:func:`load` then :func:`validate`."""
    return validate(load(paths, kind, settings), docs_dir)


#: The file a refused run leaves in its folder, with the refusal message.
UNUSABLE_FILE = "unusable.txt"


def assess_extracts(extracts: Sequence[ValidatedExtract], settings: Settings) -> list[Usability]:
    """:func:`transforms.ingest.usability.assess` of each extract at ``settings.max_quarantine_share``."""
    verdicts = []
    for extract in extracts:
        kept_values = {c: int(extract.kept[c].notna().sum())
                       for c in VOCABULARY_COLUMNS.get(extract.kind, ()) if c in extract.kept}
        verdicts.append(assess(extract.counts, extract.quarantine, extract.kind,
                               settings.max_quarantine_share, kept_values))
    return verdicts


def check_usable(extracts: Sequence[ValidatedExtract], settings: Settings) -> None:
    """The gate between validation and the audit: refuse a broken extract before it becomes findings.

    Each extract is refused when more than ``settings.max_quarantine_share`` of
    its rows were set aside for data problems, or every non-empty value of a
    vocabulary column (``action``, ``route``, ``claim_type``, ``hcpcs``...)
    was rejected (:mod:`transforms.ingest.usability`).

    Raises:
        UnusableExtract: one paragraph naming the commonest reasons with a
            row number and column each (never a value); also logged.
    """
    verdicts = assess_extracts(extracts, settings)
    if all(v.usable for v in verdicts):
        return
    message = refusal_message(verdicts)
    log.error("%s", message)
    raise UnusableExtract(message)


def _refused_run_folder(out_dir: Path, quarantine: pd.DataFrame, message: str) -> None:
    """A refused run's folder: no findings, only the quarantine, the reason and the validation docs.

    Built in the folder's ``.partial`` sibling (validation docs a caller began
    there are kept) and renamed into place. Outputs of an earlier run in
    ``out_dir`` are dropped first (they would read as this run's); its
    validation docs are replaced by this run's or else kept."""
    from transforms.outputs.files import RUN_FILES, partial_dir, publish_run_dir, quarantine_file_frame

    out_dir = Path(out_dir)
    partial = partial_dir(out_dir)
    partial.mkdir(parents=True, exist_ok=True)
    quarantine_file_frame(quarantine).to_csv(partial / "quarantine.csv", index=False)
    (partial / UNUSABLE_FILE).write_text(message + "\n", encoding="utf-8")
    for name in RUN_FILES:
        (out_dir / name).unlink(missing_ok=True)
    publish_run_dir(partial, out_dir)


def check_day(staged: StagedDay, settings: Settings, out_dir: Path) -> None:
    """The gate on the lake path (:func:`check_usable`) for one night's extracts.

    A refused day changes nothing in the lake (its earlier partitions, if
    any, stay as they were) and publishes no findings: ``out_dir`` becomes a
    refused run folder (:func:`_refused_run_folder`).

    Raises:
        UnusableExtract: as :func:`check_usable`.
    """
    try:
        check_usable((staged.mar, staged.claims), settings)
    except UnusableExtract as exc:
        _refused_run_folder(out_dir, staged.quarantine, str(exc))
        raise


def audit(
    mar: pd.DataFrame, claims: pd.DataFrame, settings: Settings, timer: StepSeconds | None = None
) -> AuditResult:
    """The pure audit on validated frames, with the reference tables of ``settings``
    (drug list, fee schedule, NCCI/MUE tables; each loaded once per process).

    A day with more than ``settings.shard_encounters`` encounters is audited
    in shards of that many (contiguous ranges of sorted encounter ids), up to
    ``settings.audit_processes`` at once (:func:`_audit_shards`), and the
    results concatenated in shard order (:mod:`transforms.shards`): the
    engine's frames are bounded by a shard, the outputs are the same.

    ``timer`` (the bench's) records each engine step, summed over shards.
    Each shard's administrations lose :data:`~flows.shard_audit.ENGINE_ONLY_ADMINISTRATION_COLUMNS`
    as soon as the shard is audited, so a day's result holds what its outputs read."""
    return _audit_shards(iter_shards(mar, claims, settings.shard_encounters), settings, timer)


def audit_taking(kept: list[pd.DataFrame], settings: Settings, timer: StepSeconds | None = None,
                 helpers: Helpers | None = None) -> AuditResult:
    """:func:`audit` of ``kept`` (``[mar, claims]``) for a caller that holds those frames nowhere else.

    ``kept`` is emptied; the frames' rows are cut into the shards at once and
    each shard is freed as soon as it is audited (:func:`transforms.shards.take_shards`),
    so the day's inputs are not held beside its whole result at the end of
    the audit (at a million encounters, about 2 GB of one beside 1.4 GB of
    the other). The shards leave out the columns the audit never reads
    (:data:`transforms.audit.UNREAD_INPUT_COLUMNS`). The same result as :func:`audit`.
    ``helpers``: helper processes started ahead (:func:`helpers_ahead`); with them, a day
    of more than one shard is cut into at least three, the helpers' shards larger
    (:func:`~flows.shard_workers.helper_cut`)."""
    left_out = (UNREAD_INPUT_COLUMNS["mar"], UNREAD_INPUT_COLUMNS["claims"])
    shards = take_shards(kept, settings.shard_encounters, left_out, helper_cut(helpers))
    return _audit_shards(shards, settings, timer, helpers)


def helpers_ahead(mar: pd.DataFrame, settings: Settings) -> Helpers:
    """The audit's helper processes (``settings.shard_helpers``), started now when the day's
    validated ``mar`` alone names more encounters than one shard holds, so that their start
    overlaps the claims' reading and a day of more than one shard is audited by two processes
    too (:func:`audit_taking` cuts it into at least three, :func:`~flows.shard_workers.helper_cut`);
    a context manager that stops them."""
    return Helpers(settings.shard_helpers, start=encounters_of(mar) > settings.shard_encounters)


def _audit_shards(shards: Iterator[Shard], settings: Settings, timer: StepSeconds | None,
                  helpers: Helpers | None = None) -> AuditResult:
    """Each shard audited (:func:`flows.shard_audit.audit_shard`), by this process and up
    to ``settings.shard_helpers`` helper processes at once when there are several
    (:mod:`flows.shard_workers`; ``helpers`` when started ahead), then the results
    combined in shard order."""
    audit_one = partial(audit_shard, settings=settings, timed=timer is not None)
    # A helper audits its shards in halves: it holds half the working frames beside this process's.
    in_halves = partial(audit_one, piece_encounters=max(1, settings.shard_encounters // 2))
    parts = []
    processes = helpers if helpers is not None else settings.shard_helpers
    for result, seconds in map_shards(audit_one, shards, processes, helper_fn=in_halves):
        if len(parts) == 1:
            log.info("day over %d encounters: audited in shards, %d processes at most",
                     settings.shard_encounters, settings.shard_helpers + 1)
        parts.append(result)
        if timer is not None:
            timer.add(seconds)
    return take_results(parts)


def write(
    out_dir: Path,
    result: AuditResult,
    quarantine: pd.DataFrame,
    counts: dict[str, dict[str, int]],
    settings: Settings,
    truth: pd.DataFrame | None = None,
    trend: pd.DataFrame | None = None,
    set_aside: Sequence[Usability] | None = None,
    audit_date: date | None = None,
) -> dict[str, object]:
    """Write the run folder (:func:`transforms.outputs.files.write_run_files`); returns the summary.

    ``set_aside``: the extracts' usability verdicts (:func:`assess_extracts`), so
    the summary and report say how many rows were set aside and why.
    ``audit_date``: the night a lake run audited (the report names it)."""
    summary = summarise(result, counts, settings.policy, truth, set_aside=set_aside, audit_date=audit_date)
    write_run_files(Path(out_dir), result, quarantine, summary, settings.facility_tz, trend)
    return summary


# --- the lake -----------------------------------------------------------------------
# Every write of a day is ONE lake transaction (transforms.outputs.lake_txn): a run
# killed at any moment leaves the day entirely old or entirely new.

@dataclass(frozen=True)
class StagedDay:
    """One night's validated extracts, held in memory until the day's transaction commits them."""

    day: date
    mar: ValidatedExtract
    claims: ValidatedExtract

    @property
    def quarantine(self) -> pd.DataFrame:
        """Both extracts' quarantined rows in one table (the ``quarantine`` dataset)."""
        return pd.concat([self.mar.quarantine, self.claims.quarantine], ignore_index=True)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return {"mar": self.mar.counts, "claims": self.claims.counts}

    def tables(self) -> dict[str, lake.DayTable]:
        """The day's input datasets for :func:`transforms.outputs.lake.write_days`."""
        return {LAKE_DATASET["mar"]: (self.mar.kept, LAKE_SCHEMA["mar"]),
                LAKE_DATASET["claims"]: (self.claims.kept, LAKE_SCHEMA["claims"]),
                "quarantine": (self.quarantine, None)}


def ingest_extract(path: Inputs, kind: str, day: date, settings: Settings, docs_dir: Path) -> ValidatedExtract:
    """Load and validate one extract of ``day`` for the lake. Nothing is written: the
    day's transaction (:func:`commit_inputs` or :func:`publish_day`) stores it."""
    return load_and_validate(path, kind, settings, docs_dir)


def commit_inputs(staged: StagedDay, settings: Settings) -> None:
    """Replace the day's MAR, claim and quarantine partitions in one transaction.

    The day's ``expected_lines`` and ``findings`` partitions are removed in the
    same transaction: they were computed from the inputs just replaced, so
    they are stale until the day is audited again.
    """
    tables = {**staged.tables(), "expected_lines": None, "findings": None, "audited_encounters": None}
    lake.write_days(settings.lake_root, staged.day, tables)
    refresh_dashboards(settings)


def _day_rows(settings: Settings, day: date, staged: StagedDay | None) -> list[pd.DataFrame]:
    """The day's MAR, claim and quarantine rows with their partition column: the lake's, or ``staged``'s in memory."""
    if staged is None:
        return [lake.read_days(settings.lake_root, name, day, day) for name in lake_window.WINDOW_DATASETS]
    tables = staged.tables()
    return [lake.as_stored(*tables[name], keep_extra=name in lake.INPUT_DATASETS).assign(**{lake.PARTITION_KEY: day})
            for name in lake_window.WINDOW_DATASETS]


def load_day_from_lake(
    day: date, settings: Settings, staged: StagedDay | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MAR events and claim lines of the encounters of ``day``.

    The encounters of a day are those in that day's MAR or claim partition,
    and those of claims voided that day; their rows are read from the
    ``lookback_days`` before it too, so an encounter that spans midnight is
    complete. MAR events extracted on several nights are kept once (the
    newest); a claim is taken wholesale from the newest night that mentions
    it, and a claim voided on its newest night is gone
    (:mod:`transforms.outputs.lake_claims`). The older nights are read
    filtered on the day's encounters and their claims
    (:func:`transforms.outputs.lake_window.read_window`): memory holds the
    day and its encounters' history, not every row of the window.

    ``staged``: the day's new extracts, not yet committed; they stand for the
    day's partitions (the lake's copy of the day, if any, is not read).
    """
    first = day - timedelta(days=settings.lookback_days)
    window = lake_window.read_window(settings.lake_root, first, day - timedelta(days=1),
                                     _day_rows(settings, day, staged))
    (mar, claims, quarantine), (has_mar, has_claims) = window.frames, window.has_rows
    if not has_mar and not has_claims:
        raise FileNotFoundError(f"no lake partitions for {day} under {settings.lake_root}")
    voids = lake_claims.voided_claims(quarantine, lake.PARTITION_KEY)
    today = lake_claims.touched_encounters(claims, voids, day, lake.PARTITION_KEY)
    if has_claims:
        claims = lake_claims.current_claim_lines(claims, voids, lake.PARTITION_KEY)
    for frame, has in ((mar, has_mar), (claims, has_claims)):
        if has:
            today |= set(frame.loc[frame[lake.PARTITION_KEY] == day, "encounter_id"])
    out = []
    for frame, key, has in ((mar, MAR_EVENT_KEY, has_mar), (claims, CLAIM_LINE_KEY, has_claims)):
        if not has:
            out.append(frame)
            continue
        frame = frame[frame["encounter_id"].isin(today)]
        frame = frame.sort_values(lake.PARTITION_KEY).drop_duplicates(list(key), keep="last")
        out.append(frame.drop(columns=[lake.PARTITION_KEY]).reset_index(drop=True))
    mar, claims = out
    if "event_time" in mar:
        mar["event_time"] = pd.to_datetime(mar["event_time"], utc=True)
    # The window's files were decoded whole and filtered: hand their pages back before the audit
    # (a night of 2,000 encounters then peaks about 8 MB lower, every night of a backfill).
    del out, window, quarantine
    release_freed_memory()
    return mar, claims


def lake_trend(settings: Settings, last: date) -> pd.DataFrame | None:
    """Findings per audit date over every day in the lake up to ``last``.

    Built a month of nights at a time (:func:`transforms.outputs.lake.summarise_nights`),
    reading only the columns the trend reads (:data:`TREND_COLUMNS`), and a
    process keeps each night's row: the nights of a backfill read one night
    each for the trend, not every night before them (on a lake of 1,030
    nights, reading them all took 1.3-1.6 s and 300 MB)."""
    days = [d for d in lake.days_present(settings.lake_root, "findings") if d <= last]
    if not days:
        return None
    rows = lake.summarise_nights(settings.lake_root, "findings", days[0], last, _nights_trend, TREND_COLUMNS)
    return trend_from_nights([rows[day] if day in rows else _nights_trend([day], pd.DataFrame()) for day in days])


def _nights_trend(nights: list[date], findings: pd.DataFrame) -> pd.DataFrame:
    """The trend rows of ``nights`` from their findings, one per night in order."""
    return trend_from_findings(findings, days=nights)


def refresh_dashboards(settings: Settings) -> Path | None:
    """Refresh the lake's DuckDB views (:func:`transforms.outputs.dashboards.refresh_views`: rebuilt
    when their SQL changed); ``None`` without DuckDB.

    DuckDB is an optional extra: without it the lake is complete and only the
    views file is missing, so a run goes on (and says so in its log)."""
    try:
        from transforms.outputs.dashboards import refresh_views

        return refresh_views(settings.lake_root)
    except ModuleNotFoundError as exc:
        if exc.name != "duckdb":
            raise
        log.info("DuckDB not installed: no dashboard views (pip install 'infusion-audit[duckdb]')")
        return None


def audited_encounters(mar: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """The ``audited_encounters`` rows of an audit of ``mar`` and ``claims``: each encounter once, sorted."""
    ids = pd.concat([mar.get("encounter_id", pd.Series(dtype=object)),
                     claims.get("encounter_id", pd.Series(dtype=object))], ignore_index=True)
    return pd.DataFrame({"encounter_id": ids.dropna().astype(str).drop_duplicates().sort_values(ignore_index=True)})


def publish_day(
    result: AuditResult, day: date, settings: Settings, out_dir: Path,
    counts: dict[str, dict[str, int]], truth: pd.DataFrame | None = None, staged: StagedDay | None = None,
    audited: pd.DataFrame | None = None, set_aside: Sequence[Usability] | None = None, trend: bool = True,
) -> dict[str, object]:
    """Replace ``day``'s expected-lines, findings and audited-encounters partitions
    (and, with ``staged``, its inputs and quarantine) in ONE transaction, then write
    the run folder with the day's quarantine from the lake and the lake's trend up to ``day``.

    ``audited``: :func:`audited_encounters` of the audit's inputs (default: the
    encounters of ``result``); they supersede these encounters' rows of earlier
    nights (:func:`transforms.outputs.lake.read_current`).
    ``set_aside``: the extracts' verdicts when ``staged`` is not given (the
    day was ingested earlier, :func:`ingest_day_verdicts`).
    ``trend``: ``False`` leaves the report's trend out, for days audited in
    parallel, whose trend is drawn once they all are (:func:`render_report_with_trend`)."""
    if audited is None:
        audited = audited_encounters(result.administrations, result.findings)
    tables: dict[str, lake.DayTable] = {"expected_lines": (result.expected_lines, EXPECTED_ARROW),
                                         "findings": (result.findings, FINDINGS_ARROW),
                                         "audited_encounters": (audited, AUDITED_ARROW)}
    if staged is not None:
        tables = {**staged.tables(), **tables}
    lake.write_days(settings.lake_root, day, tables)
    refresh_dashboards(settings)
    quarantine = lake.read_days(settings.lake_root, "quarantine", day, day)
    quarantine = quarantine.drop(columns=[lake.PARTITION_KEY], errors="ignore")
    if staged is not None:
        set_aside = assess_extracts((staged.mar, staged.claims), settings)
    return write(out_dir, result, quarantine, counts, settings, truth, lake_trend(settings, day) if trend else None,
                 set_aside, audit_date=day)


def render_report_with_trend(day: date, settings: Settings, run_dir: Path) -> Path:
    """Redraw ``run_dir/report.html`` with the lake's trend up to ``day``; returns its path.

    The same bytes as the report :func:`publish_day` writes when the lake
    holds the same findings: ``write_run_files`` renders the report from the
    files it wrote, read back here the way ``render_run_dir`` reads them, and
    with the same arguments (so the report links the files it links; keep the
    two calls alike, tests/flows/test_dask.py compares the bytes). Written
    beside and renamed into place."""
    import json

    from transforms.outputs.report_html import REPORT_INPUTS, SUMMARY_FILE, linked_run_files, render_report

    run_dir = Path(run_dir)
    frames = {arg: pd.read_csv(run_dir / name, dtype=str, keep_default_na=False) for arg, name in REPORT_INPUTS.items()}
    summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    out, tmp = run_dir / "report.html", run_dir / ".report.html.partial"
    tmp.write_text(render_report(**frames, summary=summary, trend=lake_trend(settings, day),
                                 run_files=linked_run_files(run_dir)), encoding="utf-8")
    tmp.replace(out)
    return out


# --- whole runs ----------------------------------------------------------------------

def with_remittances(claims: pd.DataFrame, remits: Inputs | None) -> pd.DataFrame:
    """Claim lines with what the payer paid, from 835 files (``None``: unchanged)."""
    if remits is None:
        return claims
    from transforms.ingest.adapters.x12 import match_remits, read_835
    from transforms.ingest.formats import expand_inputs

    paths = [Path(remits)] if isinstance(remits, (str, Path)) else [Path(p) for p in remits]
    # The matcher joins on text columns: it gets them as objects, not compact.
    return match_remits(expand_text(claims), read_835(expand_inputs(paths)))


#: The steps of :func:`audit_files`, in order, as a progress display names them.
AUDIT_FILES_STEPS: tuple[str, ...] = ("reading the MAR", "reading the claims", "auditing", "writing the run folder")


def _no_progress(_step: str) -> None:
    """The default ``advance`` of :func:`audit_files`: shows nothing."""


def audit_files(
    mar_path: Inputs, claims_path: Inputs, out_dir: Path, settings: Settings, truth: pd.DataFrame | None = None,
    remits: Inputs | None = None, advance: Callable[[str], None] = _no_progress,
) -> dict[str, object]:
    """Files in, files out: validate both extracts, check they are usable, audit, write the run folder (no lake).

    A refused extract (:func:`check_usable`) raises :class:`UnusableExtract`
    before the audit; the run folder then holds no findings, only
    ``quarantine.csv``, the validation docs and :data:`UNUSABLE_FILE`.

    ``remits``: 835 files whose paid amounts replace the fee schedule's
    estimate in the dollar impact of over-billed, paid lines.

    ``advance(step)`` is called as each of :data:`AUDIT_FILES_STEPS` ends,
    with the name of the next one (``"done"`` after the last): a progress
    display's hook."""
    use_default_arrow()
    out_dir = Path(out_dir)
    partial = begin_run_dir(out_dir)  # drops what a killed run left; validation docs go with the new folder
    mar = load_and_validate(mar_path, "mar", settings, partial / "validation" / "mar")
    advance(AUDIT_FILES_STEPS[1])
    with helpers_ahead(mar.kept, settings) as helpers:  # started while the claims are read
        claims = load_and_validate(claims_path, "claims", settings, partial / "validation" / "claims")
        advance(AUDIT_FILES_STEPS[2])
        quarantine = pd.concat([mar.quarantine, claims.quarantine], ignore_index=True)
        try:
            check_usable((mar, claims), settings)
        except UnusableExtract as exc:
            _refused_run_folder(out_dir, quarantine, str(exc))
            raise
        counts = {"mar": mar.counts, "claims": claims.counts}
        set_aside = assess_extracts((mar, claims), settings)
        kept = [mar.kept, with_remittances(claims.kept, remits)]
        del mar, claims  # the kept rows are the audit's alone: freed shard by shard as they are audited
        result = audit_taking(kept, settings, helpers=helpers)
    advance(AUDIT_FILES_STEPS[3])
    summary = summarise(result, counts, settings.policy, truth, set_aside=set_aside)
    write_run_files(out_dir, result, quarantine, summary, settings.facility_tz)
    (out_dir / UNUSABLE_FILE).unlink(missing_ok=True)  # left by an earlier, refused run
    advance("done")
    return summary


def stage_day(day: date, mar_path: Inputs, claims_path: Inputs, settings: Settings, docs_dir: Path) -> StagedDay:
    """Validate both extracts of ``day`` (validation docs under ``docs_dir/<kind>``); nothing is written to the lake."""
    mar, claims = (ingest_extract(p, kind, day, settings, docs_dir / kind)
                   for kind, p in zip(EXTRACT_KINDS, (mar_path, claims_path)))
    return StagedDay(day, mar, claims)


def ingest_day(
    day: date, mar_path: Inputs, claims_path: Inputs, settings: Settings, run_dir: Path
) -> dict[str, dict[str, int]]:
    """Validate both extracts of ``day`` into the lake, with their quarantine, in one
    transaction (:func:`commit_inputs`); returns the counts.

    Raises:
        transforms.outputs.lake.LakeBusy: another run of ``day`` is under way.
    """
    return ingest_day_verdicts(day, mar_path, claims_path, settings, run_dir)[0]


def ingest_day_verdicts(
    day: date, mar_path: Inputs, claims_path: Inputs, settings: Settings, run_dir: Path
) -> tuple[dict[str, dict[str, int]], list[Usability]]:
    """:func:`ingest_day`, also returning the extracts' usability verdicts
    (for :func:`audit_day_from_lake`'s summary: rows set aside and why).

    Raises:
        transforms.outputs.lake.LakeBusy: another run of ``day`` is under way.
        UnusableExtract: the day was refused (nothing committed).
    """
    use_lake_arrow(day_bytes=extract_bytes([mar_path, claims_path]))
    with lake.day_lock(settings.lake_root, day):
        partial = begin_run_dir(Path(run_dir))
        staged = stage_day(day, mar_path, claims_path, settings, partial / "validation")
        check_day(staged, settings, Path(run_dir))
        commit_inputs(staged, settings)
        publish_run_dir(partial, Path(run_dir))
    return staged.counts, assess_extracts((staged.mar, staged.claims), settings)


def audit_day_from_lake(
    day: date, settings: Settings, run_dir: Path, counts: dict[str, dict[str, int]],
    set_aside: Sequence[Usability] | None = None, trend: bool = True,
) -> dict[str, object]:
    """Audit ``day`` from the lake (its inputs committed earlier, :func:`ingest_day_verdicts`)
    and publish it: the second half of :func:`nightly_day`; returns the summary.

    The day reads only input partitions of days <= it, so once every day of
    a range is ingested the days can be audited in any order, or at once,
    with the same findings (``trend=False``: the report's trend, which reads
    other days' findings, is drawn afterwards, :func:`render_report_with_trend`).

    Raises:
        transforms.outputs.lake.LakeBusy: another run of ``day`` is under way.
        FileNotFoundError: the lake holds no input partition of ``day``.
    """
    use_lake_arrow(day_rows=sum(lake.count_rows(settings.lake_root, name, day, day)
                                for name in ("mar_events", "claim_lines")))
    with lake.day_lock(settings.lake_root, day):
        inputs = list(load_day_from_lake(day, settings))
        audited = audited_encounters(*inputs)
        return publish_day(audit_taking(inputs, settings), day, settings, Path(run_dir), counts,
                           audited=audited, set_aside=set_aside, trend=trend)


def nightly_day(
    day: date, mar_path: Inputs, claims_path: Inputs, settings: Settings, run_dir: Path | None = None,
    truth: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Ingest one night's extracts and audit that service date; returns the summary.

    The day's five datasets are committed in ONE lake transaction at the end
    (the audit reads the new day from memory and the days before from the
    lake), then the run folder replaces the old one by a rename: a run killed
    at any moment leaves the lake's day and the run folder either old or new.

    Raises:
        transforms.outputs.lake.LakeBusy: another run of ``day`` is under way.
    """
    use_lake_arrow(day_bytes=extract_bytes([mar_path, claims_path]))
    run_dir = Path(run_dir or settings.run_dir(day))
    with lake.day_lock(settings.lake_root, day):
        partial = begin_run_dir(run_dir)  # validation docs go with the new run folder
        staged = stage_day(day, mar_path, claims_path, settings, partial / "validation")
        check_day(staged, settings, run_dir)
        with helpers_ahead(staged.mar.kept, settings) as helpers:  # started while the lake is read
            inputs = list(load_day_from_lake(day, settings, staged))
            audited = audited_encounters(*inputs)
            result = audit_taking(inputs, settings, helpers=helpers)
        return publish_day(result, day, settings, run_dir, staged.counts, truth, staged, audited)


def audit_clif(clif_dir: Path, out_dir: Path, settings: Settings, limit_encounters: int | None = None) -> dict:
    """CLIF medication tables (e.g. the MIMIC-IV demo) through the same stages, against an empty claim.

    The CLIF adapter maps the tables onto the contract (rows it cannot map are
    quarantined with their reason), then validate, audit and write run as for
    any extract; ``clif_summary.json`` adds the adapter's counts and timings.
    Returns that CLIF summary (no patient identifiers, no encounter ids).
    """
    import json
    import time

    from transforms.ingest.adapters import clif

    out_dir = Path(out_dir)
    clock = [time.perf_counter()]
    tables = clif.read_clif(Path(clif_dir))
    cont, inter = tables["continuous"], tables["intermittent"]
    if limit_encounters is not None:
        cont, inter = clif.limit_encounters(cont, inter, limit_encounters)
    mapped = clif.clif_to_mar(cont, inter, tables["hospitalization"])
    clock.append(time.perf_counter())
    loaded = LoadedExtract("mar", raw=mapped.mar, staged=stage_mar(mapped.mar, settings.facility_tz))
    mar = validate(loaded, out_dir / "validation" / "mar")
    clock.append(time.perf_counter())
    result = audit(mar.kept, clif.empty_claims(), settings)
    clock.append(time.perf_counter())
    quarantine = clif.combine_quarantine(mapped.unmapped, mar.quarantine, clif.originals(cont, inter))
    rows_in = mapped.counts["rows_in"]
    counts = {"mar": {"rows_in": rows_in, "rows_kept": len(mar.kept), "rows_quarantined": rows_in - len(mar.kept)}}
    write(out_dir, result, quarantine, counts, settings)
    clock.append(time.perf_counter())
    summary = clif.summarise(mapped.counts, mar.kept, mar.quarantine, mapped.unmapped, result.administrations,
                             result.expected_lines, result.findings)
    summary["settings"] = {"facility_tz": settings.facility_tz, "policy": settings.policy.name,
                           "limit_encounters": limit_encounters}
    steps = ("read_and_map", "stage_and_validate", "audit", "write")
    summary["seconds"] = {**{s: round(b - a, 3) for s, a, b in zip(steps, clock, clock[1:])},
                          "total": round(clock[-1] - clock[0], 3)}
    (out_dir / "clif_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
