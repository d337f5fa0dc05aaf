"""The rows of a night's lookback window that its audit reads, read filtered from the lake.

A night audits the encounters of its own MAR and claim partitions and those
of the claims voided that night, over the ``lookback_days`` nights before it
(:func:`flows.pipeline.load_day_from_lake`). Reading those older nights whole
would hold every row of the window in memory, growing with the window, when
only a few of their rows belong to the night's encounters. :func:`read_window`
reads the older nights with filters instead, and returns a window that gives
the SAME day inputs as the whole one:

* every row of the day itself (its MAR, claim and quarantine partitions);
* the older MAR rows and claim lines of the day's encounters (the day's own,
  plus those of the claims voided that day, found from their older lines);
* every older line of the claims those lines belong to, whatever their
  encounter (the readers do not require a claim's lines to share one
  encounter, and a claim is taken wholesale from its newest mention,
  :func:`transforms.outputs.lake_claims.current_claim_lines`);
* the older quarantine rows of those claims, for their ``VOIDED`` rows (the
  other mentions); only their ``claim_id``, ``reason`` and partition columns.

Rows keep the whole window's order (older nights first, in partition order,
then the day), and the frames' columns and dtypes are those of the whole
window's (:func:`transforms.outputs.lake.read_days` with ``where``), so sorting
and de-duplicating them gives the same rows in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from transforms.outputs import lake
from transforms.outputs.lake_claims import voided_claims

#: The input datasets a night's audit reads, in the order of :class:`Window`'s frames.
WINDOW_DATASETS: tuple[str, ...] = ("mar_events", "claim_lines", "quarantine")


@dataclass(frozen=True)
class Window:
    """A night's window as :func:`read_window` reads it.

    ``frames``: MAR rows, claim lines, quarantine rows (each with the
    partition column; of the older nights' quarantine, only the ``claim_id``,
    ``reason`` and partition columns of the claims read, for their voids).
    ``has_rows``: whether the WHOLE window (older nights
    and the day) holds any MAR row / claim line, as the whole frames'
    ``not empty`` would say.
    """

    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
    has_rows: tuple[bool, bool]


def _ids(values: Iterable[object]) -> list[str]:
    """Distinct non-null text ids, sorted (a filter's value set)."""
    return sorted({v for v in values if isinstance(v, str)})


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(dtype=object)


def day_encounters(day_rows: Sequence[pd.DataFrame], voided_lines: pd.DataFrame) -> list[str]:
    """Encounters a night audits: those of its MAR rows and claim lines, and of ``voided_lines``.

    ``day_rows``: the day's MAR, claim and quarantine rows; ``voided_lines``:
    the older lines (``encounter_id``) of the claims voided that day.
    """
    mar, claims, _ = day_rows
    return _ids(pd.concat([_column(mar, "encounter_id"), _column(claims, "encounter_id"),
                           _column(voided_lines, "encounter_id")], ignore_index=True))


def _isin(column: str, ids: list[str]) -> ds.Expression:
    """Rows whose ``column`` is one of ``ids`` (none when ``ids`` is empty: the read still gives the columns)."""
    return ds.field(column).isin(pa.array(ids, pa.string()))


def _joined(older: pd.DataFrame, day: pd.DataFrame, older_rows: int) -> pd.DataFrame:
    """Older rows then the day's, as the whole window's frame: the day alone when
    the older nights hold no row; otherwise with the older nights' columns and
    dtypes even when none of their rows was kept (``older`` is then empty)."""
    return day if older_rows == 0 else pd.concat([older, day], ignore_index=True)


def read_window(root: Path, first: date, last: date, day_rows: Sequence[pd.DataFrame]) -> Window:
    """The window of a night: ``day_rows`` (its MAR, claim and quarantine rows, each
    with the partition column) and the rows of the nights ``first`` .. ``last``
    (those before it) that its audit reads (see the module docstring).

    The day's encounters are known from ``day_rows`` and the older lines of
    the claims voided that day; the older nights are then read filtered on
    them, so memory holds the day and its encounters' history, not the
    window's every row.
    """
    key, read = lake.PARTITION_KEY, lake.read_days
    mar_day, claims_day, quarantine_day = day_rows
    voided = _ids(voided_claims(quarantine_day, key)["claim_id"])
    touched = read(root, "claim_lines", first, last, where=_isin("claim_id", voided), columns=["encounter_id"]) \
        if voided else pd.DataFrame()
    by_encounter = _isin("encounter_id", day_encounters(day_rows, touched))
    mar = read(root, "mar_events", first, last, where=by_encounter)
    their_lines = read(root, "claim_lines", first, last, where=by_encounter, columns=["claim_id"])
    claim_ids = _ids(_column(their_lines, "claim_id"))
    claims = read(root, "claim_lines", first, last, where=by_encounter | _isin("claim_id", claim_ids))
    quarantine = quarantine_day
    if claim_ids and "claim_id" in lake.column_names(root, "quarantine"):
        older = read(root, "quarantine", first, last, where=_isin("claim_id", claim_ids),
                     columns=["claim_id", "reason", key])
        quarantine = pd.concat([older, quarantine_day], ignore_index=True)
    counts = [lake.count_rows(root, name, first, last) for name in ("mar_events", "claim_lines")]
    frames = (_joined(mar, mar_day, counts[0]), _joined(claims, claims_day, counts[1]), quarantine)
    return Window(frames, (counts[0] > 0 or len(mar_day) > 0, counts[1] > 0 or len(claims_day) > 0))
