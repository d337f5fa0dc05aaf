"""Rule family 6: dating units into claim lines (R-C5, R-C6, D2).

Units are counted on a service's continuous total (R-C6) but each unit is
dated on the facility-local day of the minute that earned it: CMS line-item
dates of service (R-C5). Under policy ``line_date=start`` every unit is
dated on its service's start day instead (the CPT convention, D2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.sort_keys import lexsort_ints
from transforms.frames import asof_backward, distinct_pairs, join_runs, run_starts, run_starts_multi
from transforms.vocab.policy import Policy

LINE_COLUMNS = ["encounter_id", "service_date", "hcpcs", "modifiers", "units", "site_group", "rule_ids", "evidence"]
_NS_PER_SECOND = 1_000_000_000
#: One claim line: the units of one code and modifiers on one date.
LINE_KEYS = ["encounter_id", "service_date", "hcpcs", "modifiers"]


def _ns(times: pd.Series) -> np.ndarray:
    """tz-aware UTC times as int64 nanoseconds since the epoch (NaT: int64 min)."""
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(times, utc=True)
    return times.dt.as_unit("ns").array.asi8


def _unit_times(item: np.ndarray, minute: np.ndarray, items: pd.DataFrame, timing: pd.DataFrame,
                policy: Policy) -> np.ndarray:
    """UTC time (int64 ns) at which each unit is earned.

    Unit i belongs to item ``item[i]`` and is earned at active minute
    ``minute[i]``. The middle of that minute (m - 0.5 minutes of active
    time) is looked up in the item's timing pieces (an administration's
    blocks or a hydration run's pieces, by ``timing_id``) with a backward
    as-of match on the active time before each piece
    (:func:`~transforms.frames.asof_backward`), so paused time is skipped.
    Untimed units (minute 0: pushes, injections), units whose timing has no
    piece and every unit under ``line_date=start`` keep the item's
    ``anchor`` (its start).
    """
    when = _ns(items["anchor"])[item]
    timed = np.flatnonzero((minute > 0) & (policy.line_date == "threshold"))
    if len(timed) == 0 or timing.empty:
        return when
    tid = timing["timing_id"].to_numpy(dtype=np.int64)
    start, end = _ns(timing["start"]), _ns(timing["end"])
    order = lexsort_ints((start, tid))
    tid, start, sec = tid[order], start[order], (end - start)[order]
    # Active nanoseconds before each piece within its timing id.
    before = np.cumsum(sec) - sec
    first = run_starts(tid)
    before = before - np.repeat(before[first], np.diff(np.r_[first, len(tid)]))
    at = (minute[timed] * 60 - 30) * _NS_PER_SECOND
    unit_tid = items["timing_id"].to_numpy(dtype=np.int64)[item[timed]]
    hit = asof_backward(tid, before, unit_tid, at)
    found = hit >= 0
    when[timed[found]] = start[hit[found]] + (at[found] - before[hit[found]])
    return when


def date_units(items: pd.DataFrame, timing: pd.DataFrame, policy: Policy, facility_tz: str) -> pd.DataFrame:
    """Explode items into units, date each unit, regroup into lines.

    Units are never materialised as a frame: each unit is its item number
    and its unit number k within the item, and every per-unit value is an
    item value taken by item number (int codes, no text per unit).

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
    n = items["units"].to_numpy(dtype=np.int64)
    item = np.repeat(np.arange(len(items)), n)
    # k counts 0.. within each item's run of units; unit k is earned at first + k * step.
    k = np.arange(len(item), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    minute = (items["first_minute"].to_numpy(dtype=np.int64)[item]
              + k * items["step_minutes"].to_numpy(dtype=np.int64)[item])
    day = local_days_ns(_unit_times(item, minute, items, timing, policy), facility_tz)
    line, lines = _line_of_units(items, item, day)
    n_lines = len(lines)
    site_group = np.full(n_lines, np.iinfo(np.int64).max, dtype="int64")
    np.minimum.at(site_group, line, items["site_group"].to_numpy(dtype="int64")[item])
    rule_ids, evidence = _line_texts(items, item, line, n_lines)
    return lines.assign(
        units=np.bincount(line, minlength=n_lines).astype("int64"),
        site_group=site_group,
        rule_ids=rule_ids,
        evidence=evidence,
    )


def _line_texts(items: pd.DataFrame, item: np.ndarray, line: np.ndarray, n_lines: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """``rule_ids`` and ``evidence`` of each line (object arrays, NaN for
    none): the distinct sorted rule ids of its items (``;``) and their
    distinct evidence texts in item order (`` | ``).

    Most lines hold the units of one item: such a line's texts are its
    item's (rule ids sorted once per distinct text); only the lines of
    several items are joined (:func:`_line_rule_ids`, :func:`_join_codes`).
    """
    lowest = np.full(n_lines, len(items), dtype=np.int64)
    np.minimum.at(lowest, line, item)
    highest = np.full(n_lines, -1, dtype=np.int64)
    np.maximum.at(highest, line, item)
    one = np.flatnonzero(lowest == highest)
    rules, evidence = np.full(n_lines, np.nan, dtype=object), np.full(n_lines, np.nan, dtype=object)
    rules[one] = _sorted_rule_ids(items["rule_ids"].to_numpy(dtype=object)[lowest[one]])
    evidence[one] = _as_text(items["evidence"].to_numpy(dtype=object)[lowest[one]])
    several = np.flatnonzero(lowest != highest)
    if len(several):
        units = np.flatnonzero(lowest[line] != highest[line])
        # Renumbered items and lines: the joins see only these units.
        their_items, unit_item = np.unique(item[units], return_inverse=True)
        unit_line = np.searchsorted(several, line[units])
        code, names = pd.factorize(items["evidence"].to_numpy(dtype=object)[their_items])
        rules[several] = _per_line(_line_rule_ids(unit_line, items["rule_ids"].iloc[their_items], unit_item),
                                   len(several))
        evidence[several] = _per_line(_join_codes(unit_line, code[unit_item], names, " | "), len(several))
    return rules, evidence


def _sorted_rule_ids(texts: np.ndarray) -> np.ndarray:
    """Each ``;``-separated rule id text with its distinct ids sorted, as
    :func:`_line_rule_ids` joins one item's (split once per distinct text);
    missing -> NaN."""
    code, distinct = pd.factorize(texts)
    joined = [";".join(sorted(set(str(t).split(";")))) for t in distinct]  # a handful of texts
    return np.array([*joined, np.nan], dtype=object)[code]


def _as_text(values: np.ndarray) -> np.ndarray:
    """``values`` as ``str`` (object array), missing -> NaN, as
    :func:`_join_codes` writes one text."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values.copy()  # all str, none missing: the usual evidence
    missing = pd.isna(values)
    out = values.copy()
    out[missing] = np.nan
    present = ~missing
    if pd.api.types.infer_dtype(values[present], skipna=False) not in ("string", "empty"):
        out[present] = pd.Series(values[present], dtype=object).astype(str).to_numpy(dtype=object)
    return out


def _join_codes(line: np.ndarray, code: np.ndarray, names: np.ndarray, sep: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~transforms.frames.join_distinct` of texts given as codes into
    ``names`` (-1: missing), in order of first appearance."""
    present = code >= 0
    groups, codes = distinct_pairs(line[present], code[present], sort=False)
    if len(groups) == 0:
        return groups, np.empty(0, dtype=object)
    text = pd.Series(names, dtype=object).astype(str).to_numpy(dtype=object)
    starts = run_starts(groups)
    return groups[starts], join_runs(text[codes], starts, sep)


def _line_rule_ids(line: np.ndarray, rule_ids: pd.Series, item: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rule ids of each line, sorted, joined with ``;``.

    ``rule_ids`` are the items' texts, ``item`` each unit's item number.
    Each distinct ``;``-separated text is split once (a handful of texts),
    then every (line, text) pair is expanded to its rule ids with
    ``np.repeat``: no string work per unit.

    Returns:
        ``(lines, joined)`` as :func:`~transforms.frames.join_distinct` does.
    """
    text_code, texts = pd.factorize(rule_ids)
    text_code = text_code[item]  # items' texts, taken by each unit's item number
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
    return groups[starts], join_runs(names[rules], starts, ";", labels=True)


def _per_line(joined: tuple[np.ndarray, np.ndarray], n_lines: int) -> np.ndarray:
    """Joined texts of :func:`~transforms.frames.join_distinct` placed on
    their lines; a line with no text is NaN."""
    lines, text = joined
    out = np.full(n_lines, np.nan, dtype=object)
    out[lines] = text
    return out


def local_days(times: pd.Series, facility_tz: str) -> np.ndarray:
    """Facility-local day of each UTC time, as whole days since 1970-01-01 (int64)."""
    return local_days_ns(_ns(times), facility_tz)


def local_days_ns(ns: np.ndarray, facility_tz: str) -> np.ndarray:
    """:func:`local_days` of UTC times given as int64 nanoseconds."""
    local = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(facility_tz).tz_localize(None)
    return local.to_numpy("datetime64[D]").astype("int64")


def _sort_key(*keys: np.ndarray) -> np.ndarray | None:
    """One int64 per row that sorts as the tuple of int ``keys`` (first key
    first): each key's offset from its minimum, mixed by the keys' ranges;
    ``None`` when the ranges do not fit in 63 bits."""
    if len(keys[0]) == 0:
        return None
    lows = [int(k.min()) for k in keys]
    widths = [int(k.max()) - low + 1 for k, low in zip(keys, lows)]
    if np.prod([float(w) for w in widths]) >= 2.0**62:
        return None
    key = np.zeros(len(keys[0]), dtype=np.int64)
    for k, low, width in zip(keys, lows, widths):
        key = key * width + (k - low)
    return key


def _line_of_units(items: pd.DataFrame, item: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Line number of each unit (lines sorted by :data:`LINE_KEYS`) and the
    lines' key columns (``service_date`` as ``datetime.date``); ``item`` is
    each unit's item number, keys are factorised once per item, not per unit."""
    # ``_enc`` ascends with the encounter id text: no factorising of the ids.
    enc = items["_enc"].to_numpy(dtype=np.int64)[item]
    hcpcs, hcpcs_names = pd.factorize(items["hcpcs"], sort=True)
    mods, mod_names = pd.factorize(items["modifiers"], sort=True)
    hcpcs, mods = hcpcs[item], mods[item]
    key = _sort_key(enc, day, hcpcs, mods)
    if key is None:
        order = np.lexsort((mods, hcpcs, day, enc))
        starts = run_starts_multi(np.stack([enc, day, hcpcs, mods])[:, order])
    else:
        order = np.argsort(key, kind="stable")
        starts = run_starts(key[order])
    is_start = np.zeros(len(item), dtype=bool)
    is_start[starts] = True
    line = np.empty(len(item), dtype=np.int64)
    line[order] = np.cumsum(is_start) - 1
    first = np.stack([enc, day, hcpcs, mods])[:, order[starts]]
    days, day_of = np.unique(first[1], return_inverse=True)
    dates = np.asarray(pd.to_datetime(days, unit="D").date, dtype=object)
    keys = pd.DataFrame({
        "encounter_id": items["encounter_id"].to_numpy(dtype=object)[item[order[starts]]],
        "service_date": dates[day_of.reshape(-1)],
        "hcpcs": np.asarray(hcpcs_names, dtype=object)[first[2]],
        "modifiers": np.asarray(mod_names, dtype=object)[first[3]],
    }, copy=False)  # fresh arrays: not stacked into one 2-D object block
    return line, keys
