"""Run the GX suites on a staged extract and return one failure row per check.

The only place that executes Great Expectations. GX validates one
representative row per verdict class (:mod:`expectations.compact`), and each
expectation's result is then stated for every row of the staged frame, so GX's
cost no longer grows with the rows (what remains is its fixed cost per
expectation, about 10-20 ms of Python each). Runs without data docs share
one in-memory (ephemeral) context per kind and process; runs with data docs
use a fresh one. Nothing is written into the repository and nothing touches
the network: ``GX_ANALYTICS_ENABLED`` is set to ``false`` (unless already
set) before GX is imported, and progress bars are off.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.execution_engine import PandasExecutionEngine  # noqa: E402

from expectations.compact import VerdictClasses, condition_columns, read_columns, verdict_classes  # noqa: E402
from expectations.docs_views import SITE_VIEWS  # noqa: E402
from expectations.suites import claims_suite, explain, mar_suite  # noqa: E402
from transforms.frames import expand_text  # noqa: E402
from transforms.vocab import schemas  # noqa: E402

ExtractKind = Literal["mar", "claims"]

FAILURE_COLUMNS: tuple[str, ...] = ("source_row", "column", "reason")
RESULT_FORMAT: dict[str, Any] = {
    # COMPLETE: every failing row's source_row (the quarantine needs all of them).
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [schemas.SOURCE_ROW],
    # The pandas query string lists every failing index: large and unused.
    "return_unexpected_index_query": False,
    # The failing values themselves are unused (reasons are built from the
    # staged frame) and may be identifiers: GX leaves them out of the result,
    # and counts no most-common values.
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
}
_REQUIRED_STAGED: dict[str, tuple[str, ...]] = {
    "mar": (*schemas.MAR_ARROW.names, *schemas.MAR_HELPERS),
    "claims": (*schemas.CLAIM_ARROW.names, *schemas.CLAIM_HELPERS),
}
# Result keys that list values or rows beyond unexpected_index_list: RESULT_FORMAT
# asks for none, and the compact run could not state them for the whole frame.
_PER_ROW_KEYS = frozenset({"unexpected_list", "partial_unexpected_list", "partial_unexpected_counts",
                           "partial_unexpected_index_list", "unexpected_rows", "unexpected_index_query"})
# Only turns row conditions into GX's pandas filter text (holds no data).
_ENGINE = PandasExecutionEngine()
# Adding the (shared, cached) suite to a context assigns ids on it.
_SUITE_LOCK = threading.Lock()


@dataclass
class ValidationOutcome:
    """Result of :func:`validate_extract`.

    Attributes:
        failures: columns ``source_row`` (int64), ``column`` (str), ``reason``
            (str); one row per failed check per input row, sorted by
            ``source_row`` then suite order. Empty (with these columns) when
            every row passed.
        success: True iff every expectation passed (then ``failures`` is
            empty).
        statistics: GX counts (``evaluated_expectations``,
            ``successful_expectations``, ``unsuccessful_expectations``,
            ``success_percent``) plus ``rows_checked`` and ``rows_failing``.
        docs_dir: directory holding the data docs site (``index.html``) when
            requested, else None.
        results_json: ``docs_dir/validation_<kind>.json`` when requested,
            else None.
    """

    failures: pd.DataFrame
    success: bool
    statistics: dict[str, Any] = field(default_factory=dict)
    docs_dir: Path | None = None
    results_json: Path | None = None


def _empty_failures() -> pd.DataFrame:
    source_row, column, reason = FAILURE_COLUMNS
    return pd.DataFrame({source_row: pd.Series([], dtype="int64"), column: pd.Series([], dtype=object),
                         reason: pd.Series([], dtype=object)})


def _checked_frame(staged: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``staged`` itself, after checking it came from the readers (rows are addressed by position)."""
    if kind not in _REQUIRED_STAGED:
        raise ValueError(f"kind must be 'mar' or 'claims', not {kind!r}")
    missing = [c for c in _REQUIRED_STAGED[kind] if c not in staged.columns]
    if missing:
        raise ValueError(f"staged {kind} frame lacks column(s): {', '.join(missing)}")
    rows = staged[schemas.SOURCE_ROW].to_numpy()
    # Readers number rows 1..n in order: strictly increasing rows are unique without hashing.
    increasing = rows.dtype.kind in "iu" and bool(np.all(rows[1:] > rows[:-1]))
    if not increasing and staged[schemas.SOURCE_ROW].duplicated().any():
        raise ValueError(f"staged {kind} frame has duplicate source_row values")
    return staged


def _suite(kind: str) -> gx.ExpectationSuite:
    return mar_suite() if kind == "mar" else claims_suite()


@functools.cache
def _rules(kind: str) -> dict[str, tuple[int, Any]]:
    """Rule id -> (position in the cached suite = reporting order, expectation)."""
    return {e.meta["rule"]: (i, e) for i, e in enumerate(_suite(kind).expectations)}


@functools.cache
def _read_columns(kind: str) -> tuple[list[str], list[str]]:
    """(value columns, null columns) the kind's suite reads (see :mod:`expectations.compact`)."""
    return read_columns(list(_suite(kind).expectations))


def _batch_definition(context: Any, kind: str) -> tuple[Any, Any]:
    """The kind's suite added to ``context`` and a batch definition of one whole in-memory frame."""
    with _SUITE_LOCK:
        context_suite = context.suites.add(_suite(kind))
    batch_definition = (
        context.data_sources.add_pandas(f"{kind}_extract")
        .add_dataframe_asset(f"{kind}_staged")
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    return context_suite, batch_definition


def _new_context() -> Any:
    """A fresh ephemeral context with progress bars off."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _run_for_docs(kind: str, compact: pd.DataFrame) -> tuple[Any, Any]:
    """Validate ``compact`` as a validation definition of a fresh context, whose results
    store then holds this one result (what the data docs are built from)."""
    context = _new_context()
    context_suite, batch_definition = _batch_definition(context, kind)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"{kind}_extract_{uuid.uuid4().hex[:8]}", data=batch_definition, suite=context_suite,
        )
    )
    return context, definition.run(batch_parameters={"dataframe": compact}, result_format=RESULT_FORMAT)


# One context per kind and process for runs without data docs (a new context
# and suite cost ~25 ms a call, and each leaves a temp docs directory behind).
# A lock per kind, since a context's stores are not thread-safe.
_SHARED: dict[str, tuple[Any, Any]] = {}
_SHARED_LOCKS: dict[str, threading.Lock] = {"mar": threading.Lock(), "claims": threading.Lock()}


def _run_shared(kind: str, compact: pd.DataFrame) -> Any:
    """Validate ``compact`` as a batch of the kind's shared context (``Batch.validate``:
    nothing is stored, so nothing piles up in a long-lived process)."""
    with _SHARED_LOCKS[kind]:
        if kind not in _SHARED:
            _SHARED[kind] = _batch_definition(_new_context(), kind)
        context_suite, batch_definition = _SHARED[kind]
        batch = batch_definition.get_batch(batch_parameters={"dataframe": compact})
        return batch.validate(context_suite, result_format=RESULT_FORMAT)


def validate_extract(
    staged: pd.DataFrame,
    kind: ExtractKind,
    *,
    docs_dir: Path | None = None,
) -> ValidationOutcome:
    """Validate a staged MAR or claims frame with its GX suite.

    GX validates one representative row per verdict class
    (:mod:`expectations.compact`): rows that every expectation of the suite
    must judge alike. Each expectation's result is then stated for the whole
    frame (:func:`_expand_result`): its failing rows are every row of a
    failing class, and its counts and percentages are those GX computes on
    the whole frame.

    Args:
        staged: output of ``stage_mar`` (``kind="mar"``) or ``stage_claims``
            (``kind="claims"``), plain or ``compact`` (text as
            ``Categorical``: GX and the reasons see it expanded,
            :func:`transforms.frames.expand_text`); ``source_row`` must be unique.
        kind: which suite to run.
        docs_dir: when given, GX data docs are built and copied here
            (``docs_dir/index.html`` exists afterwards) and the validation
            result is written to ``docs_dir/validation_<kind>.json``. Failing
            rows appear there by ``source_row`` only; the checked values shown
            are codes, numbers and nulls, never patient identifiers.

    Returns:
        A :class:`ValidationOutcome`. Invariant: every ``source_row`` in
        ``failures`` is a ``source_row`` of ``staged``.

    Raises:
        ValueError: unknown ``kind``, staged columns missing, or duplicate
            ``source_row`` values.
        RuntimeError: an expectation raised inside GX, or a table-level
            expectation failed (both mean the frame was not staged by
            ``transforms.ingest.readers``); rows are never silently passed.
    """
    frame = _checked_frame(staged, kind)
    classes = verdict_classes(frame, *_read_columns(kind))
    # GX sees the representatives as the object columns of a plain staging,
    # never a Categorical (its pandas engine treats those by their own rules).
    compact = expand_text(frame.take(classes.representatives).reset_index(drop=True))
    if docs_dir is None:
        context, result = None, _run_shared(kind, compact)
    else:
        context, result = _run_for_docs(kind, compact)
    failures = _collect_failures(result, frame, compact, classes, kind)

    statistics: dict[str, Any] = dict(result.statistics)
    statistics["rows_checked"] = len(frame)
    statistics["rows_failing"] = int(failures["source_row"].nunique())

    out_docs, out_json = (None, None) if docs_dir is None else _write_docs(context, result, Path(docs_dir), kind)
    return ValidationOutcome(failures=failures, success=bool(result.success), statistics=statistics,
                             docs_dir=out_docs, results_json=out_json)


def _failing_rows(index_list: list[dict[str, Any]]) -> np.ndarray:
    """``source_row`` of every failing row (int64) from GX's ``unexpected_index_list``.

    With ``exclude_unexpected_values`` GX gives one entry holding the list of
    all failing ``source_row`` values; without it, one entry per row. Both
    are read, in GX's order.
    """
    parts = [np.asarray(entry[schemas.SOURCE_ROW], dtype="int64").ravel() for entry in index_list]
    return np.concatenate(parts) if parts else np.empty(0, dtype="int64")


def _domain(expectation: Any, compact: pd.DataFrame) -> np.ndarray:
    """Which compact rows the expectation judges: its row condition, filtered as GX's pandas engine does."""
    condition = getattr(expectation, "row_condition", None)
    if condition is None:
        return np.ones(len(compact), dtype=bool)
    # Only the columns the condition reads: query() prepares every column of its frame.
    read = compact[sorted(condition_columns(condition))]
    kept = read.query(_ENGINE.condition_to_filter_clause(condition)).index
    mask = np.zeros(len(compact), dtype=bool)
    mask[kept.to_numpy()] = True
    return mask


def _percentages(result: dict[str, Any], element: int, unexpected: int, nonnull: int | None) -> None:
    """Set GX's counts and percentages in ``result`` (the formulas of GX's ``_format_map_output``)."""
    total = nonmissing = missing_percent = None
    if element > 0:
        total = unexpected / element * 100
        if nonnull is None:
            nonmissing = total
        else:
            missing_percent = (element - nonnull) / element * 100
            nonmissing = unexpected / nonnull * 100 if nonnull > 0 else None
    result.update(element_count=element, unexpected_count=unexpected, unexpected_percent=nonmissing)
    if nonnull is not None:
        result.update(missing_count=element - nonnull, missing_percent=missing_percent,
                      unexpected_percent_total=total, unexpected_percent_nonmissing=nonmissing)


def _expand_result(res: Any, expectation: Any, frame: pd.DataFrame, compact: pd.DataFrame,
                   classes: VerdictClasses) -> np.ndarray:
    """State a column-map result of the compact frame for the whole frame, in place.

    Returns the positions (in ``frame``) of the failing rows, ascending: the
    rows of every class whose representative failed. The compact counts GX
    reported are checked against the classes first, so a class that GX did not
    judge as one (a bug) raises instead of passing rows.
    """
    found = res.result
    column = getattr(expectation, "column", None)
    if column is None or not isinstance(found, dict) or "element_count" not in found:
        return np.empty(0, dtype=np.int64)  # table-level: nothing per row
    if _PER_ROW_KEYS & found.keys():
        raise RuntimeError(f"result format lists per-row values: {sorted(_PER_ROW_KEYS & found.keys())}")
    failing_compact = _failing_rows(found.get("unexpected_index_list") or [])
    positions = pd.Index(compact[schemas.SOURCE_ROW]).get_indexer(failing_compact)
    if (positions < 0).any():
        raise RuntimeError(f"GX reported rows outside the frame for {expectation.meta.get('rule')}")
    failed = np.zeros(len(compact), dtype=bool)
    failed[positions] = True
    domain = _domain(expectation, compact)
    nonnull = domain & compact[column].notna().to_numpy() if "missing_count" in found else None
    ours = (int(domain.sum()), int(failed.sum()), None if nonnull is None else int(domain.sum() - nonnull.sum()))
    if ours != (found["element_count"], found["unexpected_count"], found.get("missing_count")):
        raise RuntimeError(f"verdict classes disagree with GX on {expectation.meta.get('rule')}")
    weights = classes.weights
    _percentages(found, int(weights[domain].sum()), int(weights[failed].sum()),
                 None if nonnull is None else int(weights[nonnull].sum()))
    if not failed.any():
        return np.empty(0, dtype=np.int64)
    rows = np.flatnonzero(failed[classes.of_row])
    found["unexpected_index_list"] = [{schemas.SOURCE_ROW: frame[schemas.SOURCE_ROW].to_numpy()[rows].tolist()}]
    return rows


def _collect_failures(result: Any, frame: pd.DataFrame, compact: pd.DataFrame,
                      classes: VerdictClasses, kind: str) -> pd.DataFrame:
    """One row per (failed expectation, failing row of ``frame``), with reasons.

    Also states every result for the whole frame (:func:`_expand_result`).
    """
    rules = _rules(kind)
    parts: list[pd.DataFrame] = []
    for res in result.results:
        config = res.expectation_config
        meta = dict(config.meta or {})
        rule = meta.get("rule", config.type)
        info = res.exception_info or {}
        if isinstance(info, dict) and info.get("raised_exception"):
            raise RuntimeError(
                f"{kind} expectation {rule} raised inside Great Expectations"
            )
        rank, expectation = rules[rule]
        rows = _expand_result(res, expectation, frame, compact, classes)
        if res.success:
            continue
        if not len(rows):
            raise RuntimeError(
                f"{kind} expectation {rule} failed without failing rows "
                "(staged frame is malformed)"
            )
        failing = expand_text(frame.iloc[rows].reset_index(drop=True))  # explain() aligns on the index
        parts.append(
            pd.DataFrame(
                {
                    "source_row": failing[schemas.SOURCE_ROW].to_numpy(dtype="int64"),
                    "column": meta.get("column", ""),
                    "reason": explain(meta, failing).to_numpy(dtype=object),
                    "_rank": rank,
                }
            )
        )
    if not parts:
        return _empty_failures()
    failures = pd.concat(parts, ignore_index=True)
    failures = failures.sort_values(["source_row", "_rank"], kind="stable")
    return failures.drop(columns="_rank").reset_index(drop=True)


# What GX copies from the data into a validation result, and so into the data
# docs and validation_<kind>.json. Any column of a malformed row can hold a
# patient identifier, name or encounter id (a shifted CSV column, a name typed
# into ``route``), so the docs keep counts, percentages and ``source_row``
# numbers only: a coder finds the row's values in quarantine.csv, which is
# meant to hold them (contract section 3). Redacted after the failures were
# collected from the full result.
_VALUE_LISTS = ("partial_unexpected_list", "unexpected_list", "partial_unexpected_counts")
_INDEX_LISTS = ("partial_unexpected_index_list", "unexpected_index_list")


def _redact_values(result: Any) -> None:
    """Drop the data values from ``result`` in place (``source_row`` numbers stay)."""
    for res in result.results:
        found = res.result
        if not isinstance(found, dict):
            continue
        for name in _VALUE_LISTS:
            if name in found:
                found[name] = []
        for name in _INDEX_LISTS:
            if isinstance(found.get(name), list):
                found[name] = [
                    {schemas.SOURCE_ROW: i[schemas.SOURCE_ROW]} if isinstance(i, dict) and schemas.SOURCE_ROW in i
                    else None
                    for i in found[name]
                ]
        found.pop("unexpected_index_query", None)


def _with_shared_views(sites: dict[str, Any]) -> dict[str, Any]:
    """The data-docs site configuration with the views of :mod:`expectations.docs_views`
    (GX's templates compiled once per process, not once per build)."""
    out = {}
    for name, site in sites.items():
        index_builder = {**site.get("site_index_builder", {}), **SITE_VIEWS["site_index_builder"]}
        out[name] = {**site, "site_index_builder": index_builder,
                     "site_section_builders": SITE_VIEWS["site_section_builders"]}
    return out


def _write_docs(
    context: Any, result: Any, docs_dir: Path, kind: str
) -> tuple[Path, Path]:
    """Build GX data docs, copy the HTML site into ``docs_dir``, write JSON."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    _redact_values(result)
    # The context stored its own copy of the result at run time: replace it
    # with the redacted one, since the docs are rendered from the store.
    store = context.validation_results_store
    for key in store.list_keys():
        store.set(key, result)
    context.variables.data_docs_sites = _with_shared_views(context.variables.data_docs_sites or {})
    context.build_data_docs()
    sites = context.variables.data_docs_sites or {}
    for site in sites.values():
        base = Path(site["store_backend"]["base_directory"])
        if base.is_dir():
            # GX's static/ folder (4 MB of fonts and images per extract) is not copied:
            # its pages load their styles from the internet anyway, and the run's
            # own offline page (transforms/outputs/validation_page.py) needs none.
            shutil.copytree(base, docs_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("static"))
            # The ephemeral site lives in a fresh temp directory: remove it.
            if base.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve()):
                shutil.rmtree(base, ignore_errors=True)
    results_json = docs_dir / f"validation_{kind}.json"
    results_json.write_text(
        json.dumps(result.to_json_dict(), indent=2, default=str), encoding="utf-8"
    )
    return docs_dir, results_json
