"""Rule family 6: dating units into claim lines (R-C5, R-C6, D2).

Units are counted on a service's continuous total (R-C6) but each unit is
dated on the facility-local day of the minute that earned it: CMS line-item
dates of service (R-C5). Under policy ``line_date=start`` every unit is
dated on its service's start day instead (the CPT convention, D2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.frames import distinct_pairs, join_distinct, join_runs, run_starts, run_starts_multi
from transforms.vocab.policy import Policy

LINE_COLUMNS = ["encounter_id", "service_date", "hcpcs", "modifiers", "units", "site_group", "rule_ids", "evidence"]
#: One claim line: the units of one code and modifiers on one date.
LINE_KEYS = ["encounter_id", "service_date", "hcpcs", "modifiers"]


def _explode_units(items: pd.DataFrame) -> pd.DataFrame:
    """One row per unit, with ``k`` (0-based unit number within its item)
    and ``minute``: the active minute that earns it, ``first + k * step``."""
    n = items["units"].astype("int64").to_numpy()
    u = items.loc[items.index.repeat(n)].reset_index(drop=True)
    # k counts 0.. within each item's run of repeated rows.
    k = np.arange(len(u), dtype="int64") - np.repeat(np.cumsum(n) - n, n)
    u["k"] = k
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
    day = local_days(_unit_times(u, timing, policy), facility_tz)
    line, lines = _line_of_units(u, day)
    n_lines = len(lines)
    site_group = np.full(n_lines, np.iinfo(np.int64).max, dtype="int64")
    np.minimum.at(site_group, line, u["site_group"].to_numpy(dtype="int64"))
    return lines.assign(
        units=np.bincount(line, minlength=n_lines).astype("int64"),
        site_group=site_group,
        rule_ids=_per_line(_line_rule_ids(line, u["rule_ids"]), n_lines),
        evidence=_per_line(join_distinct(line, u["evidence"], " | "), n_lines),
    )


def _line_rule_ids(line: np.ndarray, rule_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rule ids of each line, sorted, joined with ``;``.

    Each distinct ``;``-separated text is split once (a handful of texts),
    then every (line, text) pair is expanded to its rule ids with
    ``np.repeat``: no string work per unit.

    Returns:
        ``(lines, joined)`` as :func:`~transforms.frames.join_distinct` does.
    """
    text_code, texts = pd.factorize(rule_ids)
    known = text_code >= 0
    pair_line, pair_text = distinct_pairs(line[known], text_code[known], sort=False)
    split = [str(t).split(";") for t in texts]  # one per distinct text, not per row
    rule_code, rule_names = pd.factorize(pd.Series([r for parts in split for r in parts], dtype=object), sort=True)
    n_rules = np.array([len(parts) for parts in split], dtype=np.int64)
    first = np.cumsum(n_rules) - n_rules
    count = n_rules[pair_text]
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    codes = np.asarray(rule_code, dtype=np.int64)[np.repeat(first[pair_text], count) + offset]
    groups, rules = distinct_pairs(np.repeat(pair_line, count), codes, sort=True)
    if len(groups) == 0:
        return groups, np.empty(0, dtype=object)
    starts = run_starts(groups)
    names = pd.Series(rule_names, dtype=object).astype(str).to_numpy(dtype=object)
    return groups[starts], join_runs(names[rules], starts, ";")


def _per_line(joined: tuple[np.ndarray, np.ndarray], n_lines: int) -> np.ndarray:
    """Joined texts of :func:`~transforms.frames.join_distinct` placed on
    their lines; a line with no text is NaN."""
    lines, text = joined
    out = np.full(n_lines, np.nan, dtype=object)
    out[lines] = text
    return out


def local_days(times: pd.Series, facility_tz: str) -> np.ndarray:
    """Facility-local day of each UTC time, as whole days since 1970-01-01 (int64)."""
    local = pd.to_datetime(times, utc=True).dt.tz_convert(facility_tz).dt.tz_localize(None)
    return local.to_numpy("datetime64[D]").astype("int64")


def _line_of_units(u: pd.DataFrame, day: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Line number of each unit (lines sorted by :data:`LINE_KEYS`) and the
    lines' key columns (``service_date`` as ``datetime.date``)."""
    enc, enc_names = pd.factorize(u["encounter_id"], sort=True)
    hcpcs, hcpcs_names = pd.factorize(u["hcpcs"], sort=True)
    mods, mod_names = pd.factorize(u["modifiers"], sort=True)
    order = np.lexsort((mods, hcpcs, day, enc))
    key = np.stack([enc, day, hcpcs, mods])[:, order]
    starts = run_starts_multi(key)
    is_start = np.zeros(len(u), dtype=bool)
    is_start[starts] = True
    line = np.empty(len(u), dtype=np.int64)
    line[order] = np.cumsum(is_start) - 1
    first = key[:, starts]
    days, day_of = np.unique(first[1], return_inverse=True)
    dates = np.asarray(pd.to_datetime(days, unit="D").date, dtype=object)
    keys = pd.DataFrame({
        "encounter_id": np.asarray(enc_names, dtype=object)[first[0]],
        "service_date": dates[day_of.reshape(-1)],
        "hcpcs": np.asarray(hcpcs_names, dtype=object)[first[2]],
        "modifiers": np.asarray(mod_names, dtype=object)[first[3]],
    })
    return line, keys
