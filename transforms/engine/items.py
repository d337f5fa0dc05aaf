"""Line items, unit formulas and roles shared by the rule families.

A *line item* (:data:`LINE_ITEM_COLUMNS`; ``_enc`` is the encounter code
that ascends with ``encounter_id``) is one code earned by one administration (or one hydration
run) before its units are dated: ``units`` of ``hcpcs``, unit k earned at
active minute ``first_minute + k * step_minutes`` of the item's timing
pieces (``timing_id``). :func:`transforms.engine.line_dates.date_units` turns
items into dated claim lines.

Every rule family (``initial``, ``infusions``, ``pushes``, ``injections``,
``hydration``) returns a :class:`FamilyLines`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LINE_ITEM_COLUMNS = [
    "encounter_id", "site_group", "timing_id", "hcpcs", "modifiers", "units",
    "first_minute", "step_minutes", "rule_ids", "evidence", "anchor", "_enc",
]


@dataclass(frozen=True)
class FamilyLines:
    """What one rule family contributes to an encounter's coding.

    Attributes:
        items: line-item frames (:data:`LINE_ITEM_COLUMNS`), in the order
            their lines' evidence is listed.
        roles: role of each administration the family coded, indexed by
            ``admin_id``; a later family's role replaces an earlier one.
    """

    items: list[pd.DataFrame]
    roles: pd.Series


def extra_hours(minutes: pd.Series) -> pd.Series:
    """Additional-hour units after a first hour: max(0, (T - 31) // 60).

    ``minutes`` is active time T in whole minutes. 91-150 minutes -> 1,
    151-210 -> 2 (section 0, R-C3; Ex 17: 90 -> 0, 91 -> 1).
    """
    return ((minutes - 31) // 60).clip(lower=0).astype("int64")


def secondary_hydration_units(minutes: pd.Series) -> pd.Series:
    """96361 units for hydration that is not the initial service (R-G5).

    (T - 31) // 60 + 1 when T >= 31 minutes: 31-90 -> 1, 91-150 -> 2
    (Medlearn Ex 5: 175 -> 3); 0 below 31 minutes (R-C4).
    """
    units = (minutes - 31) // 60 + 1
    return units.where(minutes >= 31, 0).astype("int64")


#: The administrations' columns :func:`line_items` reads.
ITEM_SOURCE_COLUMNS = ["encounter_id", "_enc", "site_group", "admin_id", "evidence", "start"]


def select_rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray, columns: list[str]) -> pd.DataFrame:
    """``frame[mask][columns]`` (index kept), copying only ``columns``
    (each once, dtype kept): a rule family needs a few of the
    administrations' many columns for a few of their rows."""
    rows = np.flatnonzero(np.asarray(mask, dtype=bool))
    # Taken as arrays (a Series take builds an index per column); numpy
    # columns by plain indexing, extension ones (categories, tz times) by their take.
    data = {}
    for c in dict.fromkeys(columns):
        column = frame[c]
        data[c] = column.to_numpy()[rows] if isinstance(column.dtype, np.dtype) else column.array.take(rows)
    return pd.DataFrame(data, index=frame.index[rows], copy=False)


def line_items(frame: pd.DataFrame, **cols: object) -> pd.DataFrame:
    """Line items for ``frame`` rows; ``cols`` are constants or Series.

    ``frame`` is administrations (``admin_id`` becomes the ``timing_id``) or
    hydration runs (which carry their own ``timing_id``), with
    ``encounter_id``, its code ``_enc``, ``site_group``, ``start`` and
    ``evidence``. The unit
    anchor is the row's start: the date of an untimed unit.
    """
    # One constructor call: setting columns one by one copies the frame each time.
    data: dict[str, object] = {
        "encounter_id": frame["encounter_id"],
        "site_group": frame["site_group"],
        "timing_id": frame["admin_id"] if "admin_id" in frame else frame["timing_id"],
        "modifiers": "",
        "evidence": frame["evidence"],
        "anchor": frame["start"],
        "_enc": frame["_enc"],
    }
    data.update(cols)
    # Not stacked into 2-D blocks: the families' items are concatenated next, copying once.
    return pd.DataFrame({c: data[c] for c in LINE_ITEM_COLUMNS}, index=frame.index, copy=False)


def role_updates(*assignments: tuple[pd.Series, object]) -> pd.Series:
    """Role by ``admin_id`` from ``(admin_ids, role)`` pairs; a later pair wins.

    ``role`` is one string for all the ids or an array aligned with them.
    """
    parts = [pd.Series(role, index=pd.Index(ids.to_numpy()), dtype=object) for ids, role in assignments]
    roles = pd.concat(parts)
    return roles[~roles.index.duplicated(keep="last")]
