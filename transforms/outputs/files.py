"""The run folder: every file of one audit run, written from memory.

:func:`write_run_files` is the one writer of a run folder (the files-in /
files-out audit, the nightly flow and the CLIF command all call it). It is
pure file output: no Prefect, no validation.

Files (names in :data:`RUN_FILES`):

``expected_codes.csv``
    the expected lines, contract columns (``schemas.EXPECTED_COLUMNS``).
``findings.csv``
    the contract columns (``schemas.FINDING_COLUMNS``) first, then the
    findings' other columns in their frame order, so readers of the contract
    columns are unaffected.
``worklist.csv``
    the findings ordered for action, safe to open in a spreadsheet
    (:func:`transforms.outputs.worklist.worklist`).
``quarantine.csv``
    the quarantined rows; an empty quarantine is written as the contract
    header alone (``schemas.QUARANTINE_COLUMNS``).
``administrations.csv``
    the reconstructed timeline (:data:`ADMINISTRATION_COLUMNS`); ``start``
    and ``end`` in facility wall time with their offset
    (``2026-11-02T09:03:00-0500``), like the evidence text.
``summary.json``, ``report.md``
    the run summary and its Markdown rendering.
``report.html``
    :func:`transforms.outputs.report_html.render_report` of the same frames,
    converted once to the text a re-read of the CSVs gives
    (:func:`as_csv_text`), so the page is byte-identical to
    ``render_run_dir`` of the folder (the ``report`` command) without
    reading anything back. Of the administrations and expected lines only
    the cells of the rows the page reads are kept: those of its top
    encounters (:func:`transforms.outputs.report_html.drawn_encounters`);
    ``worklist.csv`` takes its cells from those of ``findings.csv``.

Every CSV is ``DataFrame.to_csv(path, index=False)`` with pandas' defaults:
the bytes are the contract and must not change. They are built by Arrow
(:mod:`transforms.outputs.csv_cells`, byte-identical to pandas' writer; a
frame it does not model is written by pandas), and the report is drawn from
the same cells. Every CSV is also safe to
open in a spreadsheet: a text cell starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return gets a leading ``'``
(:func:`transforms.outputs.worklist.neutralise_formulas`, applied to the
cells as they are written; numbers, dates and missing values are never
changed). MAR drug text, claim ids and quarantined
raw values come from outside, so no file is exempt.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.audit import AuditResult
from transforms.memory import release_freed_memory
from transforms.outputs.background_file import BackgroundFile
from transforms.outputs.csv_cells import (
    CellSource, CsvColumn, KeepRows, column_source, first_of_each, frame_sources,
    taken_text_source, text_cells, write_blocks, write_frame, write_text_blocks,
)
from transforms.outputs.report_html import (
    LINKED_FILES, REPORT_INPUTS, SUMMARY_FILE, drawn_encounters, linked_run_files, rank_encounters,
    reads_every_administration, render_report_parts,
)
from transforms.outputs.summary import render_markdown
from transforms.outputs.wall_text import time_cells, wall_time_codes, wall_time_text
from transforms.outputs.validation_page import write_validation_page
from transforms.outputs.worklist import WORKLIST_COLUMNS, neutralise_formulas, worklist_order, worklist_rows
from transforms.vocab.schemas import EXPECTED_COLUMNS, FINDING_COLUMNS, QUARANTINE_COLUMNS

#: Columns of ``administrations.csv``, in file order.
ADMINISTRATION_COLUMNS: tuple[str, ...] = (
    "encounter_id", "admin_id", "site_group", "role", "drug_label", "drug_class", "kind", "route",
    "site", "start", "end", "minutes", "infusates", "n_components", "drug_as_charted",
)
#: ``start`` / ``end`` of ``administrations.csv``: local wall time with its UTC offset.
WALL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
#: Every file of a run folder, in writing order.
RUN_FILES: tuple[str, ...] = (
    REPORT_INPUTS["expected"], REPORT_INPUTS["findings"], "worklist.csv", "quarantine.csv",
    REPORT_INPUTS["administrations"], SUMMARY_FILE, "report.md", "report.html",
)


def partial_dir(out_dir: Path) -> Path:
    """The hidden sibling a new run folder is built in: ``<parent>/.<name>.partial``."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.partial"


def _old_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.old"


def begin_run_dir(out_dir: Path) -> Path:
    """Start building a new run folder: drop what a killed run left; returns :func:`partial_dir`.

    A caller may write more files there (e.g. validation docs) before
    :func:`write_run_files` completes and publishes the folder.
    """
    partial = partial_dir(out_dir)
    shutil.rmtree(partial, ignore_errors=True)
    _restore(Path(out_dir))
    partial.mkdir(parents=True)
    return partial


def _restore(out_dir: Path) -> None:
    """Undo what a swap killed half-way left: the old folder aside, or its leftover copy."""
    old = _old_dir(out_dir)
    if old.exists() and not out_dir.exists():
        os.replace(old, out_dir)  # killed between the two renames: the old folder is still the run folder
    shutil.rmtree(old, ignore_errors=True)


def _publish(partial: Path, out_dir: Path) -> None:
    """Make ``partial`` the run folder ``out_dir`` by renames.

    Entries of the old folder that the new one lacks (e.g. validation docs a
    caller wrote into ``out_dir``) are carried over. The old folder is renamed
    aside, then the new one into place: a crash between the two leaves the
    old folder at ``.<name>.old``, which :func:`write_run_files` restores.
    """
    old = _old_dir(out_dir)
    if out_dir.exists():
        for entry in out_dir.iterdir():
            if not (partial / entry.name).exists():
                os.replace(entry, partial / entry.name)
        os.replace(out_dir, old)
    os.replace(partial, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _findings_rows(findings: pd.DataFrame) -> pd.DataFrame:
    """``findings.csv`` rows before formula neutralising: contract columns first, then the others."""
    return findings[[*FINDING_COLUMNS, *(c for c in findings.columns if c not in FINDING_COLUMNS)]]


def _expected_rows(expected_lines: pd.DataFrame) -> pd.DataFrame:
    """``expected_codes.csv`` rows before formula neutralising: contract columns first, then the others."""
    return expected_lines[[*EXPECTED_COLUMNS, *(c for c in expected_lines.columns if c not in EXPECTED_COLUMNS)]]


def findings_file_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """``findings.csv`` rows: contract columns first, then the others in frame order; formula-safe."""
    return neutralise_formulas(_findings_rows(findings))


def expected_file_frame(expected_lines: pd.DataFrame) -> pd.DataFrame:
    """``expected_codes.csv`` rows: the contract columns (``EXPECTED_COLUMNS``) first, then
    the others in frame order (``policy_profile``); formula-safe."""
    return neutralise_formulas(_expected_rows(expected_lines))


def _administrations_rows(administrations: pd.DataFrame, facility_tz: str) -> pd.DataFrame:
    """``administrations.csv`` rows before formula neutralising (see :func:`administrations_file_frame`)."""
    columns = list(ADMINISTRATION_COLUMNS)
    times = {col: wall_time_text(administrations[col], facility_tz) for col in ("start", "end")}
    return administrations[columns].assign(**times)[columns]


def administrations_file_frame(administrations: pd.DataFrame, facility_tz: str) -> pd.DataFrame:
    """``administrations.csv`` rows: :data:`ADMINISTRATION_COLUMNS`, times on the facility clock; formula-safe.

    ``start`` / ``end`` become text in :data:`WALL_TIME_FORMAT` in
    ``facility_tz`` (:func:`wall_time_text`; a missing time stays missing
    and is written empty).
    """
    return neutralise_formulas(_administrations_rows(administrations, facility_tz))


def quarantine_file_frame(quarantine: pd.DataFrame) -> pd.DataFrame:
    """``quarantine.csv`` rows, formula-safe; a quarantine without rows is the contract header alone."""
    return neutralise_formulas(quarantine) if not quarantine.empty else pd.DataFrame(columns=list(QUARANTINE_COLUMNS))


def as_csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as ``read_csv(..., dtype=str, keep_default_na=False)`` reads back its ``to_csv``.

    Each cell becomes the text ``to_csv`` writes for it: missing values
    (``None``, NaN, ``NaT``, ``pd.NA``) become ``""``, float columns keep
    numpy's shortest text (``1.0``, ``0.1``, as ``to_csv`` writes them) and
    every other value is ``str()`` of it (``True``, ``42``, text as is).
    Columns and their order are kept; the index becomes ``0..n-1``.

    The run frames hold text, integers, floats and booleans (times are
    formatted before, see :func:`administrations_file_frame`); a datetime
    column would print as ``str()`` of its timestamps.
    """
    columns = {}
    for i, name in enumerate(frame.columns):  # one pass per column; the cells are converted in bulk
        col = frame.iloc[:, i]
        if col.dtype.kind == "f":
            text = col.to_numpy().astype(str)  # what to_csv writes for a float column
        elif isinstance(col.dtype, np.dtype) and col.dtype.kind in "iub":
            text = col.to_numpy().astype(str).astype(object)  # numpy's text of ints and bools is str()
        elif col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty"):
            text = col.to_numpy(dtype=object)  # already text: str() would copy every cell
        else:
            text = col.astype(object).astype(str).to_numpy(dtype=object)
        columns[i] = pd.Series(text, dtype=object).where(~col.isna().to_numpy(), "")
    out = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)), dtype=object)
    out.columns = frame.columns
    return out


def write_run_files(
    out_dir: Path,
    result: AuditResult,
    quarantine: pd.DataFrame,
    summary: dict[str, object],
    facility_tz: str,
    trend: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write every file of a run folder into ``out_dir`` (created if missing).

    Args:
        out_dir: the run folder. It is built in :func:`partial_dir` (kept
            if a caller began it with :func:`begin_run_dir`) and renamed onto
            ``out_dir`` once every file is written, so a killed run never
            leaves a half-written run folder; an old folder is replaced.
        result: the audit (administrations, expected lines, findings).
        quarantine: the run's quarantined rows (any columns; the contract ones first).
        summary: the run summary (:func:`transforms.outputs.summary.summarise`),
            written as ``summary.json`` and rendered as ``report.md``.
        facility_tz: IANA zone of the facility clock of ``administrations.csv``.
        trend: findings per audit date for the report's trend section
            (:func:`transforms.outputs.report_html.trend_from_findings`);
            ``None`` for no trend.

    Returns:
        File name -> path (in ``out_dir``), one entry per name of :data:`RUN_FILES`.

    The report is drawn from the cells written (the text a re-read of each
    CSV gives, as :func:`as_csv_text` of the written frame) and ``summary``
    as ``summary.json`` reads back, so it equals
    ``render_run_dir(out_dir, trend=trend)`` byte for byte.
    """
    out_dir = Path(out_dir)
    _restore(out_dir)
    build = partial_dir(out_dir)
    build.mkdir(parents=True, exist_ok=True)
    paths = {name: build / name for name in RUN_FILES}
    summary_text = json.dumps(summary, indent=2, default=str)
    report_summary = json.loads(summary_text)
    report_frames, ranked = _write_report_inputs(result, paths, report_summary, facility_tz)
    write_frame(quarantine if not quarantine.empty else pd.DataFrame(columns=list(QUARANTINE_COLUMNS)),
                paths["quarantine.csv"])
    paths[SUMMARY_FILE].write_text(summary_text, encoding="utf-8")
    paths["report.md"].write_text(render_markdown(summary), encoding="utf-8")
    write_validation_page(build / "validation")  # when validation ran into this folder
    _write_report(paths["report.html"], report_frames, report_summary, trend,
                  _published_links(build, out_dir), ranked)
    del report_frames, ranked
    release_freed_memory()  # the report's pieces, for whatever the caller does next
    _publish(build, out_dir)
    return {name: out_dir / name for name in RUN_FILES}


def _write_report_inputs(result: AuditResult, paths: dict[str, Path], report_summary: dict, facility_tz: str
                         ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Write the CSVs the report is drawn from (:data:`REPORT_INPUTS`, at ``paths``) and
    ``worklist.csv`` (from the cells of ``findings.csv``, while they are at hand).

    ``report_summary``: the summary as ``summary.json`` reads back.

    Returns:
        The frames for ``render_report`` (argument -> :func:`as_csv_text` of
        the file; of the expected lines and administrations only the rows the
        report reads) and :func:`rank_encounters` of the findings as written.
    """
    findings_rows = _findings_rows(result.findings)
    # Written by pandas (not by_arrow): the worklist is too.
    findings_frame, by_arrow = _write_csv(findings_rows, paths[REPORT_INPUTS["findings"]])
    _write_worklist(result.findings, findings_rows, findings_frame if by_arrow else None, paths["worklist.csv"])
    report_frames = {"findings": findings_frame}
    # The report draws its top encounters alone: of the other files, only their rows' cells are kept.
    ranked = rank_encounters(findings_frame)
    drawn = drawn_encounters(ranked)
    expected, order = _contract_first(result.expected_lines, EXPECTED_COLUMNS, _expected_rows)
    names = expected.columns if order is None else expected.columns[order]
    report_frames["expected"] = _write_csv(expected, paths[REPORT_INPUTS["expected"]],
                                           _expected_the_report_reads(names, drawn), order)[0]
    report_frames["administrations"] = _write_administrations(
        result.administrations, facility_tz, paths[REPORT_INPUTS["administrations"]],
        None if reads_every_administration(report_summary) else drawn)
    return report_frames, ranked


def _write_report(path: Path, report_frames: dict[str, pd.DataFrame], report_summary: dict,
                  trend: pd.DataFrame | None, run_files: tuple[str, ...], ranked: pd.DataFrame) -> None:
    """Write ``report.html`` at ``path``: ``render_report`` of ``report_frames`` (see
    :func:`_write_report_inputs`), linking ``run_files``, as UTF-8 bytes."""
    html = render_report_parts(**report_frames, summary=report_summary, trend=trend,
                               run_files=run_files, ranked=ranked)
    # Piece by piece (the page is never one string), each written while the next is drawn.
    with BackgroundFile(path) as page:
        for part in html:
            page.write(part.encode("utf-8") if isinstance(part, str) else part)


def _write_csv(rows: pd.DataFrame, path: Path, keep: KeepRows | None = None,
               order: list[int] | None = None) -> tuple[pd.DataFrame, bool]:
    """Write ``rows`` formula-safe as ``to_csv(path, index=False)`` would (pandas writes a frame the
    Arrow writer does not model); returns the file as :func:`as_csv_text` of the written frame (what
    a re-read gives), for the report, and whether the Arrow writer wrote it.

    ``keep``: the rows returned, asked block by block, when the report reads no other; every row
    when None or when pandas wrote the file.
    ``order``: the positions of the file's columns in ``rows`` (None: all, in frame order).
    """
    names = rows.columns if order is None else rows.columns[order]
    sources = frame_sources(rows, positions=order)
    if sources is None:
        safe = neutralise_formulas(rows if order is None else rows.iloc[:, order])
        safe.to_csv(path, index=False)
        return as_csv_text(safe), False
    return write_text_blocks(names, sources, len(rows), path, keep), True


def _contract_first(frame: pd.DataFrame, contract: tuple[str, ...] | list[str],
                    reordered: Callable[[pd.DataFrame], pd.DataFrame]) -> tuple[pd.DataFrame, list[int] | None]:
    """``frame`` and the positions of its columns in file order (the ``contract`` ones first, then
    the others in frame order), so a large frame is written without a reordered copy of it.

    Columns that repeat a name are left to ``reordered`` (a copy in file order, positions None).
    """
    columns = frame.columns
    if not columns.is_unique or any(c not in columns for c in contract):
        return reordered(frame), None
    first = [columns.get_loc(c) for c in contract]
    taken = set(first)
    return frame, first + [i for i in range(len(columns)) if i not in taken]


def _of_encounters(cells: pa.Array, encounter_ids: np.ndarray) -> np.ndarray:
    """Bool mask of the ``cells`` (encounter ids as written) that are one of ``encounter_ids``."""
    return pc.is_in(cells, value_set=pa.array(encounter_ids, type=cells.type)).to_numpy(zero_copy_only=False)


def _expected_the_report_reads(columns: pd.Index, drawn: np.ndarray) -> KeepRows | None:
    """The rows of ``expected_codes.csv`` whose cells the report needs to be the page of every row,
    asked block by block (:data:`transforms.outputs.csv_cells.KeepRows`, the blocks in file order).

    :func:`transforms.outputs.report_html.render_report` reads the expected
    lines twice: the codes of its top encounters (``drawn``, see
    :func:`transforms.outputs.report_html.drawn_encounters`; their rows in
    file order) and the distinct service dates in order of first appearance
    (:func:`transforms.outputs.report_html.night_of`), which the first row of
    each distinct date keeps. None (every row) when columns repeat.
    """
    if not columns.is_unique or "encounter_id" not in columns:
        return None
    at_id = columns.get_loc("encounter_id")
    at_date = columns.get_loc("service_date") if "service_date" in columns else None
    seen: set[str] = set()  # the service dates of the blocks before

    def read(block: list[CsvColumn]) -> np.ndarray:
        rows = _of_encounters(block[at_id].cells, drawn)
        if at_date is not None:
            rows |= first_of_each(block[at_date].cells, seen)
        return rows
    return read


def _write_worklist(findings: pd.DataFrame, findings_rows: pd.DataFrame, findings_text: pd.DataFrame | None,
                    path: Path) -> None:
    """Write ``worklist.csv`` (:func:`transforms.outputs.worklist.worklist`).

    Its rows are the findings' rows reordered and its columns some of theirs,
    so its cells are taken from ``findings_text`` (``findings.csv`` as
    :func:`as_csv_text` gives it, written by the Arrow writer; columns of
    ``findings_rows``) instead of being made again, and no Arrow copy of the
    findings' cells is held for it; pandas' path when that is missing or a
    column is absent or repeated.
    """
    names = list(findings_rows.columns)
    if (findings_text is None or not findings_rows.columns.is_unique
            or any(c not in names for c in WORKLIST_COLUMNS)):
        write_frame(worklist_rows(findings), path)
        return
    order = worklist_order(findings_rows[WORKLIST_COLUMNS])
    sources = [taken_text_source(findings_text.iloc[:, names.index(c)].to_numpy(), order) for c in WORKLIST_COLUMNS]
    write_blocks(WORKLIST_COLUMNS, sources, len(order), path, returns=False)


def _write_administrations(administrations: pd.DataFrame, facility_tz: str, path: Path,
                           drawn: np.ndarray | None = None) -> pd.DataFrame:
    """Write ``administrations.csv`` (:func:`administrations_file_frame`) from the columns themselves,
    the times formatted straight into Arrow text; returns the file as :func:`as_csv_text` gives it.

    ``drawn``: encounter ids (as written); when given, only the returned rows of those encounters
    are kept (in file order), so the cells of rows the report never reads are not kept. None keeps all.
    """
    columns = list(ADMINISTRATION_COLUMNS)
    sources = [_time_source(administrations[c], facility_tz) if c in ("start", "end")
               else column_source(administrations[c]) for c in columns]
    if any(source is None for source in sources):  # a column the Arrow writer does not model: pandas writes
        frame = _write_csv(_administrations_rows(administrations, facility_tz), path)[0]
        return frame if drawn is None else frame[frame["encounter_id"].isin(drawn)].reset_index(drop=True)
    at_id = columns.index("encounter_id")
    keep = None if drawn is None else (lambda block: _of_encounters(block[at_id].cells, drawn))
    return write_text_blocks(pd.Index(columns), sources, len(administrations), path, keep)


def _time_source(stamps: pd.Series, facility_tz: str) -> CellSource:
    """The cell source (:func:`transforms.outputs.csv_cells.column_source`) of a time column: each
    distinct instant formatted once (:func:`wall_time_codes`), the rows of a block take their text."""
    codes, text = wall_time_codes(stamps, facility_tz)
    return lambda a, b: text_cells(time_cells(codes[a:b], text))


def publish_run_dir(partial: Path, out_dir: Path) -> None:
    """Make the folder built in ``partial`` (:func:`begin_run_dir`) the run folder ``out_dir``, by renames.

    The validation page is drawn first when validation ran into ``partial``."""
    write_validation_page(Path(partial) / "validation")
    _restore(Path(out_dir))
    _publish(Path(partial), Path(out_dir))


def _published_links(build: Path, out_dir: Path) -> tuple[str, ...]:
    """The report's links to the files the run folder will hold once ``build`` is published:
    those in ``build``, and those of ``out_dir`` whose top-level entry :func:`_publish` carries over."""
    kept = linked_run_files(build)
    carried = [name for name in linked_run_files(out_dir) if not (build / name.split("/")[0]).exists()]
    return tuple(name for name in LINKED_FILES if name in kept or name in carried)
