"""Split a staged extract into the rows the audit uses and the quarantine.

Pure pandas. The contract's rule "rows read = rows used + rows quarantined"
is enforced here: :func:`split_quarantine` raises if it would not hold.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from transforms.vocab import schemas

QuarantineSource = Literal["mar", "claims"]

_HELPERS: dict[str, tuple[str, ...]] = {
    "mar": schemas.MAR_HELPERS,
    "claims": schemas.CLAIM_HELPERS,
}


def split_quarantine(
    staged: pd.DataFrame,
    raw: pd.DataFrame,
    failures: pd.DataFrame,
    source: QuarantineSource,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Separate usable rows from failed ones.

    Args:
        staged: staged frame (``stage_mar`` / ``stage_claims``).
        raw: the raw frame it was staged from (``read_extract``).
        failures: ``ValidationOutcome.failures``: ``source_row``, ``column``,
            ``reason``; one row per failed check per input row, in the order
            the reasons should be reported.
        source: ``"mar"`` or ``"claims"``; written to the ``source`` column.

    Returns:
        ``(kept, quarantine)``:

        * ``kept``: the staged rows with no failure, in input order, helper
          columns (``schemas.MAR_HELPERS`` / ``CLAIM_HELPERS``) dropped,
          ``source_row`` kept, index ``0..k-1``, dtypes as staged (a
          compact staging's ``Categorical`` text stays so: a take of its
          codes); when no row failed its columns are the staged arrays
          themselves (no copy), so neither frame may then be modified in place;
        * ``quarantine``: one row per failed input row, sorted by ``row``:
          ``source``, ``row`` (int64, = ``source_row``), ``column`` (distinct
          failed columns joined by ``";"``), ``reason`` (reasons joined by
          ``"; "``), then every raw column (except ``source_row``) as ``str``
          with ``""`` for missing. A raw column whose name clashes with one
          of the first four is written as ``raw_<name>``.

    Invariants (checked, ``AssertionError`` otherwise):
        ``len(kept) + len(quarantine) == len(raw)`` and no ``source_row`` is
        in both.

    Raises:
        ValueError: unknown ``source``; ``staged`` and ``raw`` do not hold the
            same ``source_row`` values; ``failures`` names a row not in
            ``raw``.
        AssertionError: an invariant does not hold.
    """
    if source not in _HELPERS:
        raise ValueError(f"source must be 'mar' or 'claims', not {source!r}")
    src = schemas.SOURCE_ROW
    failed_rows = _failed_rows(staged, raw, failures)
    is_bad = staged[src].isin(failed_rows).to_numpy()
    kept = _kept_rows(staged, is_bad, _HELPERS[source])
    quarantine = _quarantine_rows(raw, failures, failed_rows, source)
    if len(kept) + len(quarantine) != len(raw):
        raise AssertionError(
            f"{source}: rows in {len(raw)} != kept {len(kept)} + quarantined "
            f"{len(quarantine)}"
        )
    if np.isin(quarantine["row"].to_numpy(), kept[src].to_numpy()).any():
        raise AssertionError(f"{source}: a source_row is both kept and quarantined")
    return kept, quarantine


def _kept_rows(staged: pd.DataFrame, is_bad: np.ndarray, helpers: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``staged`` where ``is_bad`` is False, helper columns dropped, index ``0..k-1``.

    When no row is bad the kept frame holds the staged columns themselves
    (no copy: at 1M encounters a copy of every staged cell was 1.2 GB and
    several seconds); otherwise one take of the kept rows and columns.
    """
    columns = [c for c in staged.columns if c not in helpers]
    if not is_bad.any() and staged.columns.is_unique:
        kept = pd.DataFrame({c: staged[c] for c in columns}, index=staged.index, copy=False)
    else:
        kept = staged.iloc[np.flatnonzero(~is_bad), [i for i, c in enumerate(staged.columns) if c not in helpers]]
    kept.index = pd.RangeIndex(len(kept))
    return kept


def _failed_rows(staged: pd.DataFrame, raw: pd.DataFrame, failures: pd.DataFrame) -> np.ndarray:
    """Sorted distinct ``source_row`` values of ``failures`` (int64).

    Raises:
        ValueError: ``raw`` repeats a ``source_row``; ``staged`` and ``raw``
            do not hold the same rows; ``failures`` names a row not in ``raw``.
    """
    src = schemas.SOURCE_ROW
    raw_rows = raw[src].to_numpy(dtype="int64")
    staged_rows = staged[src].to_numpy(dtype="int64")
    # Readers number rows 1..n in order: strictly increasing rows are unique
    # without a sort, and staged rows in the same order equal them directly.
    increasing = bool(np.all(raw_rows[1:] > raw_rows[:-1]))
    if not increasing and len(np.unique(raw_rows)) != len(raw_rows):
        raise ValueError("raw frame has duplicate source_row values")
    if len(staged_rows) != len(raw_rows) or not (
        np.array_equal(staged_rows, raw_rows) or np.array_equal(np.sort(staged_rows), np.sort(raw_rows))
    ):
        raise ValueError("staged and raw frames do not hold the same rows")
    failed_rows = np.unique(failures[src].to_numpy(dtype="int64"))
    unknown = failed_rows[~np.isin(failed_rows, raw_rows)]
    if len(unknown):
        raise ValueError(
            f"failures name {len(unknown)} row(s) not in the input, e.g. row {unknown[0]}"
        )
    return failed_rows


def _quarantine_rows(
    raw: pd.DataFrame, failures: pd.DataFrame, failed_rows: np.ndarray, source: str
) -> pd.DataFrame:
    """The quarantine frame of :func:`split_quarantine`: one row per failed
    input row, sorted by ``row``, with the raw values as charted (``str``)."""
    src = schemas.SOURCE_ROW
    summary = _summarise(failures)
    raw_bad = raw.loc[raw[src].isin(failed_rows)].sort_values(src, kind="stable")
    originals = _as_strings(raw_bad.drop(columns=[src]))
    originals.columns = _avoid_clashes(list(originals.columns))
    head = pd.DataFrame(
        {
            "source": source,
            "row": raw_bad[src].to_numpy(dtype="int64"),
        }
    )
    head = head.merge(summary, how="left", left_on="row", right_index=True)
    quarantine = pd.concat(
        [head.reset_index(drop=True), originals.reset_index(drop=True)], axis=1
    )
    return quarantine.astype({"row": "int64"})


def reconcile(
    raw: pd.DataFrame | int, kept: pd.DataFrame | int, quarantine: pd.DataFrame | int
) -> dict[str, int]:
    """Row accounting of one input: ``rows_in == rows_kept + rows_quarantined``.

    Args:
        raw: raw frame or its row count.
        kept: kept frame or its row count.
        quarantine: quarantine frame or its row count.

    Returns:
        ``{"rows_in": n, "rows_kept": k, "rows_quarantined": q}``.

    Raises:
        AssertionError: the counts do not add up.
    """
    counts = {
        "rows_in": raw if isinstance(raw, int) else len(raw),
        "rows_kept": kept if isinstance(kept, int) else len(kept),
        "rows_quarantined": (
            quarantine if isinstance(quarantine, int) else len(quarantine)
        ),
    }
    if counts["rows_in"] != counts["rows_kept"] + counts["rows_quarantined"]:
        raise AssertionError(
            f"rows in {counts['rows_in']} != kept {counts['rows_kept']} + "
            f"quarantined {counts['rows_quarantined']}"
        )
    return counts


def _summarise(failures: pd.DataFrame) -> pd.DataFrame:
    """Per ``source_row``: distinct columns joined by ';', reasons by '; '.

    Vectorised: one pass per failure rank (1st, 2nd, ... failure of a row),
    not per row. Input order within a row is kept.
    """
    src = schemas.SOURCE_ROW
    empty = pd.DataFrame({"column": pd.Series([], dtype=object),
                          "reason": pd.Series([], dtype=object)})
    if failures.empty:
        return empty.rename_axis(src)
    f = failures[[src, "column", "reason"]].copy()
    f[src] = f[src].astype("int64")
    f["column"] = f["column"].astype(str)
    f["reason"] = f["reason"].astype(str)
    columns = _join_in_order(f.drop_duplicates([src, "column"]), "column", ";")
    reasons = _join_in_order(f.drop_duplicates([src, "reason"]), "reason", "; ")
    return pd.concat([columns, reasons], axis=1)


def _join_in_order(f: pd.DataFrame, value: str, sep: str) -> pd.Series:
    src = schemas.SOURCE_ROW
    rank = f.groupby(src, sort=False).cumcount()
    joined: pd.Series | None = None
    for r in range(int(rank.max()) + 1):
        part = f.loc[rank.eq(r)].set_index(src)[value]
        if joined is None:
            joined = part
        else:
            joined = joined.copy()
            joined.loc[part.index] = joined.loc[part.index] + sep + part
    assert joined is not None
    return joined.rename(value)


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as ``str``; missing values -> ``""``. Values unchanged."""
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        col = frame[name]
        text = col.astype(object).astype(str)
        out[name] = text.where(col.notna(), "").astype(object)
    return out


def _avoid_clashes(names: list[str]) -> list[str]:
    taken = set(schemas.QUARANTINE_COLUMNS)
    out: list[str] = []
    for name in names:
        new = name
        while new in taken:
            new = f"raw_{new}"
        taken.add(new)
        out.append(new)
    return out
