"""Rule family 6: dating units into claim lines (R-C5, R-C6, D2).

Units are counted on a service's continuous total (R-C6) but each unit is
dated on the facility-local day of the minute that earned it: CMS line-item
dates of service (R-C5). Under policy ``line_date=start`` every unit is
dated on its service's start day instead (the CPT convention, D2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.frames import join_unique
from transforms.vocab.policy import Policy

LINE_COLUMNS = ["encounter_id", "service_date", "hcpcs", "modifiers", "units", "site_group", "rule_ids", "evidence"]
#: One claim line: the units of one code and modifiers on one date.
LINE_KEYS = ["encounter_id", "service_date", "hcpcs", "modifiers"]


def _explode_units(items: pd.DataFrame) -> pd.DataFrame:
    """One row per unit, with ``k`` (0-based unit number within its item)
    and ``minute``: the active minute that earns it, ``first + k * step``."""
    n = items["units"].astype("int64").to_numpy()
    u = items.loc[items.index.repeat(n)].reset_index(drop=True)
    u["k"] = u.groupby(np.repeat(np.arange(len(items)), n)).cumcount()
    u["units"] = 1
    u["minute"] = u["first_minute"].astype("int64") + u["k"] * u["step_minutes"].astype("int64")
    return u


def _unit_times(u: pd.DataFrame, timing: pd.DataFrame, policy: Policy) -> pd.Series:
    """UTC timestamp at which each unit is earned, indexed like ``u``.

    The middle of active minute m (m - 0.5 minutes of active time) is looked
    up in the unit's timing pieces (an administration's blocks or a
    hydration run's pieces, by ``timing_id``) with a backward as-of join on
    the active seconds before each piece, so paused time is skipped. Untimed
    units (minute 0: pushes, injections) and every unit under
    ``line_date=start`` keep the item's ``anchor`` (its start).
    """
    u = u.assign(at_sec=(u["minute"].astype(float) - 0.5) * 60.0)
    timed = (u["minute"] > 0) & (policy.line_date == "threshold")
    t = timing.sort_values(["timing_id", "start"], kind="mergesort").copy()
    t["sec"] = (t["end"] - t["start"]).dt.total_seconds()
    t["cum_before"] = t.groupby("timing_id")["sec"].cumsum() - t["sec"]
    left = u[timed].reset_index().sort_values("at_sec", kind="mergesort")
    right = t.sort_values("cum_before", kind="mergesort")[["timing_id", "cum_before", "start"]]
    hit = pd.merge_asof(
        left, right.rename(columns={"start": "piece_start"}),
        left_on="at_sec", right_on="cum_before", by="timing_id", direction="backward",
    ).set_index("index")
    when = u["anchor"].copy()
    offs = pd.to_timedelta(hit["at_sec"] - hit["cum_before"], unit="s")
    when.loc[hit.index] = (hit["piece_start"] + offs).where(hit["piece_start"].notna(), u.loc[hit.index, "anchor"])
    return when


def date_units(items: pd.DataFrame, timing: pd.DataFrame, policy: Policy, facility_tz: str) -> pd.DataFrame:
    """Explode items into units, date each unit, regroup into lines.

    Args:
        items: line items (:data:`transforms.engine.items.LINE_ITEM_COLUMNS`)
            with ``units`` > 0.
        timing: ``timing_id``, ``start``, ``end`` of every timing piece.
        policy: ``line_date`` (``threshold`` or ``start``).
        facility_tz: IANA zone of the facility; dates are local days.

    Returns:
        One row per (encounter, service_date, hcpcs, modifiers), sorted by
        those keys, with summed ``units``, the lowest ``site_group``, the
        distinct sorted ``rule_ids`` (``;``) and the distinct ``evidence``
        texts (`` | ``) in item order.
    """
    if items.empty:
        return pd.DataFrame(
            {c: pd.Series([], dtype="int64" if c in ("units", "site_group") else object) for c in LINE_COLUMNS}
        )
    u = _explode_units(items)
    u["service_date"] = pd.to_datetime(_unit_times(u, timing, policy), utc=True).dt.tz_convert(facility_tz).dt.date
    lines = u.groupby(LINE_KEYS, sort=True).agg(units=("units", "sum"), site_group=("site_group", "min"))
    rules = u[LINE_KEYS + ["rule_ids"]].assign(rule_ids=u["rule_ids"].str.split(";")).explode("rule_ids")
    lines["rule_ids"] = join_unique(rules, LINE_KEYS, "rule_ids", ";", sort=True)
    lines["evidence"] = join_unique(u, LINE_KEYS, "evidence", " | ")
    return lines.reset_index()
