"""Run the GX suites on a staged extract and return one failure row per check.

The only place that executes Great Expectations. It uses an in-memory
(ephemeral) data context per call, never writes into the repository, and
never touches the network: ``GX_ANALYTICS_ENABLED`` is set to ``false``
(unless already set) before GX is imported, and progress bars are off.
"""

from __future__ import annotations

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

from expectations.docs_views import SITE_VIEWS  # noqa: E402
from expectations.suites import claims_suite, explain, mar_suite  # noqa: E402
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
    """``staged`` with a fresh index, after checking it came from the readers."""
    if kind not in _REQUIRED_STAGED:
        raise ValueError(f"kind must be 'mar' or 'claims', not {kind!r}")
    missing = [c for c in _REQUIRED_STAGED[kind] if c not in staged.columns]
    if missing:
        raise ValueError(f"staged {kind} frame lacks column(s): {', '.join(missing)}")
    if staged[schemas.SOURCE_ROW].duplicated().any():
        raise ValueError(f"staged {kind} frame has duplicate source_row values")
    return staged.reset_index(drop=True)


def _checked_as_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame GX checks: ``frame`` with its object columns as categoricals.

    Same values, rows and index, so every expectation gives the same verdicts
    and row indices; but GX's per-expectation work (null masks, row filters,
    the batch fingerprint, value-set and regex tests) then runs on integer
    codes and on each distinct text once, not on every cell's Python string.
    Categories keep first-seen order (no sort). A column whose values cannot
    be hashed stays as it is.
    """
    columns: dict[int, Any] = {}
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        if values.dtype == object:
            try:
                codes, distinct = pd.factorize(values, use_na_sentinel=True)
                values = pd.Series(pd.Categorical.from_codes(codes, categories=distinct), index=frame.index)
            except TypeError:
                pass
        columns[position] = values
    out = pd.DataFrame(columns, index=frame.index)
    out.columns = frame.columns
    return out


def _definition(context: Any, kind: str) -> Any:
    """A validation definition of the kind's suite over one whole in-memory frame."""
    suite = mar_suite() if kind == "mar" else claims_suite()
    with _SUITE_LOCK:
        context_suite = context.suites.add(suite)
    batch_definition = (
        context.data_sources.add_pandas(f"{kind}_extract")
        .add_dataframe_asset(f"{kind}_staged")
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    return context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"{kind}_extract_{uuid.uuid4().hex[:8]}", data=batch_definition, suite=context_suite,
        )
    )


def validate_extract(
    staged: pd.DataFrame,
    kind: ExtractKind,
    *,
    docs_dir: Path | None = None,
) -> ValidationOutcome:
    """Validate a staged MAR or claims frame with its GX suite.

    Args:
        staged: output of ``stage_mar`` (``kind="mar"``) or ``stage_claims``
            (``kind="claims"``); ``source_row`` must be unique.
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
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    result = _definition(context, kind).run(
        batch_parameters={"dataframe": _checked_as_categories(frame)}, result_format=RESULT_FORMAT
    )
    failures = _collect_failures(result, frame, kind)

    statistics: dict[str, Any] = dict(result.statistics)
    statistics["rows_checked"] = len(frame)
    statistics["rows_failing"] = int(failures["source_row"].nunique())

    out_docs: Path | None = None
    out_json: Path | None = None
    if docs_dir is not None:
        out_docs, out_json = _write_docs(context, result, Path(docs_dir), kind)
    return ValidationOutcome(
        failures=failures,
        success=bool(result.success),
        statistics=statistics,
        docs_dir=out_docs,
        results_json=out_json,
    )


def _suite_rank(kind: str) -> dict[str, int]:
    """Position of each rule in the cached suite (the reporting order)."""
    suite = mar_suite() if kind == "mar" else claims_suite()
    return {e.meta["rule"]: i for i, e in enumerate(suite.expectations)}


def _failing_rows(index_list: list[dict[str, Any]]) -> np.ndarray:
    """``source_row`` of every failing row (int64) from GX's ``unexpected_index_list``.

    With ``exclude_unexpected_values`` GX gives one entry holding the list of
    all failing ``source_row`` values; without it, one entry per row. Both
    are read, in GX's order.
    """
    parts = [np.asarray(entry[schemas.SOURCE_ROW], dtype="int64").ravel() for entry in index_list]
    return np.concatenate(parts) if parts else np.empty(0, dtype="int64")


def _collect_failures(result: Any, frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One row per (failed expectation, failing source_row), with reasons."""
    by_row = frame.set_index(schemas.SOURCE_ROW, drop=False)
    rank = _suite_rank(kind)
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
        if res.success:
            continue
        index_list = (res.result or {}).get("unexpected_index_list")
        if not index_list:
            raise RuntimeError(
                f"{kind} expectation {rule} failed without failing rows "
                "(staged frame is malformed)"
            )
        rows = _failing_rows(index_list)
        reasons = explain(meta, by_row.loc[rows])
        parts.append(
            pd.DataFrame(
                {
                    "source_row": rows,
                    "column": meta.get("column", ""),
                    "reason": reasons.to_numpy(dtype=object),
                    "_rank": rank.get(rule, len(rank)),
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
