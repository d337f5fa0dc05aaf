"""Per-encounter timeline facts that decide a finding's key and evidence.

What the MAR shows about an encounter, as booleans, minutes and the
evidence text behind each (``*_ev``, ``drug [infusate ids] local
start-end (N min)`` joined with `` | ``):

* drug infusions overlapping on one access site (concurrent, R-E2) or on two
  (two initial services, R-B3), for at least the policy minutes (D4);
* a drug infusion overlapping only hydration (never concurrent, R-E4);
* several drugs in one bag (R-D5); one drug in several bags (R-D4);
* administrations of 15 active minutes or less, per family (a push or
  injection, R-C2);
* hydration minutes on the clock and free of any other infusion (R-G7);
* a repeat push of the same drug 30 minutes or less after the last (R-F2);
* a pump start: a drug pump left running or timed for more than 8 hours (R-H8);
* the access sites charted, and every administration.

All computed per encounter with merges, sweeps and group-bys: no loop over
encounters or rows. ``kind`` values (``infusion``, ``hydration``, ``push``,
``injection``, ``pump``, ``none``) are the timeline's (:mod:`transforms.engine.timeline`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.frames import coverage_codes, join_distinct, map_distinct, overlapping_pairs
from transforms.vocab.classes import CHEMO, DILUENT, DRUG_CLASSES, HYDRATION
from transforms.vocab.codes import INFUSION_FAMILIES, REPEAT_PUSH_MINUTES


def _blocks(admins: pd.DataFrame, blocks: pd.DataFrame | None) -> pd.DataFrame:
    """Running intervals with the attributes of their administration.

    ``blocks`` are the timeline's (paused minutes excluded); without them the
    administrations' start-end intervals stand in.
    """
    cols = ["encounter_id", "service_key", "admin_id", "kind", "drug_class", "route", "grp", "site", "ev", "enc"]
    a = admins.loc[admins["has_blocks"].astype(bool), cols]
    src = a[["encounter_id", "service_key"]].join(admins[["start", "end"]]) if blocks is None else blocks
    return src[["encounter_id", "service_key", "start", "end"]].merge(a, on=["encounter_id", "service_key"])


def _ns(times: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of a datetime Series, int64."""
    return times.dt.as_unit("ns").array.asi8


#: The attributes of an overlapping pair that the facts read (site group, evidence, site).
_PAIR_ATTRS = ("grp", "ev", "site")


def _overlaps(x: pd.DataFrame, y: pd.DataFrame, distinct: bool) -> pd.DataFrame:
    """Whole minutes each pair of administrations ran at the same time.

    Pairs of running blocks are found by sorted search
    (:func:`transforms.frames.overlapping_pairs`), never by pairing every
    block of an encounter; their overlaps are summed per pair of
    administrations (``distinct``: each unordered pair once, x's id lower).

    Returns:
        one row per (encounter, admin x, admin y) with ``minutes`` > 0 (int64)
        and the :data:`_PAIR_ATTRS` of both (suffixes ``_x`` / ``_y``), index ``0..n-1``.
    """
    ix, iy = overlapping_pairs(x["encounter_id"], x["start"], x["end"], y["encounter_id"], y["start"], y["end"])
    ax, ay = x["admin_id"].to_numpy()[ix], y["admin_id"].to_numpy()[iy]
    keep = ax < ay if distinct else ax != ay
    ix, iy, ax, ay = ix[keep], iy[keep], ax[keep], ay[keep]
    overlap = (np.minimum(_ns(x["end"])[ix], _ns(y["end"])[iy])
               - np.maximum(_ns(x["start"])[ix], _ns(y["start"])[iy]))
    width = int(max(ax.max(initial=0), ay.max(initial=0))) + 1
    pair, first, which = np.unique(ax.astype(np.int64) * width + ay, return_index=True, return_inverse=True)
    total = np.bincount(which.reshape(-1), weights=overlap, minlength=len(pair)) if len(pair) else np.zeros(0)
    minutes = (total / 1e9 // 60).astype("int64")  # seconds first, floored to whole minutes
    ran = minutes > 0
    pair, rows_x, rows_y = pair[ran], ix[first][ran], iy[first][ran]
    # Only the attributes the facts read: each column built is a gather over every pair.
    g = {"encounter_id": x["encounter_id"].to_numpy()[rows_x], "admin_id_x": pair // width,
         "admin_id_y": pair % width}
    for c in _PAIR_ATTRS:
        g[f"{c}_x"], g[f"{c}_y"] = x[c].to_numpy()[rows_x], y[c].to_numpy()[rows_y]
    g["minutes"] = minutes[ran]
    return pd.DataFrame(g)


def _best(pairs: pd.DataFrame) -> pd.DataFrame:
    """The longest overlap per encounter (ties: lowest admin ids), indexed by encounter."""
    s = pairs.sort_values(["encounter_id", "minutes", "admin_id_x", "admin_id_y"],
                          ascending=[True, False, True, True], kind="mergesort")
    return s.drop_duplicates("encounter_id").set_index("encounter_id")


def _hydration_minutes(b: pd.DataFrame, n_encounters: int) -> pd.DataFrame:
    """Per encounter code ``0..n_encounters-1`` (``b["enc"]``): ``hyd_clock`` minutes any
    hydration ran and ``hyd_free`` minutes it ran while no other infusion did (R-G7), before
    the 31-minute threshold (int64, 0 without hydration); a sweep over start/end points.

    The sweep runs on int encounter codes and nanoseconds
    (:func:`transforms.frames.coverage_codes`), summed per encounter by one
    bincount; whole minutes are floored as the seconds' sum was.
    """
    hyd = (b["kind"] == "hydration").to_numpy()
    enc = b["enc"].to_numpy(dtype=np.int64)
    with_hyd = np.zeros(n_encounters, dtype=bool)
    with_hyd[enc[hyd]] = True
    other = ~b["drug_class"].isin([HYDRATION, DILUENT]).to_numpy() & with_hyd[enc]
    start, end = _ns(b["start"]), _ns(b["end"])
    key, lo, hi, n_hyd, n_other = coverage_codes((enc[hyd], start[hyd], end[hyd]),
                                                 (enc[other], start[other], end[other]))
    running = n_hyd > 0
    clock = np.bincount(key[running], weights=(hi - lo)[running] / 1e9, minlength=n_encounters)
    free = running & (n_other == 0)
    free_sec = np.bincount(key[free], weights=(hi - lo)[free] / 1e9, minlength=n_encounters)
    return pd.DataFrame({"hyd_clock": (clock // 60).astype("int64"), "hyd_free": (free_sec // 60).astype("int64")})


def _joined(part: pd.DataFrame, column: str, sep: str, index: pd.Index, *, sort: bool = False) -> pd.Series:
    """Distinct non-null ``column`` values of each encounter of ``part`` joined with
    ``sep`` (first appearance, or sorted), indexed by encounter id.

    ``part`` rows carry ``enc`` (the encounter's position in ``index``): the
    grouping is on those int codes, never on the id text."""
    groups, joined = join_distinct(part["enc"].to_numpy(), part[column], sep, sort=sort)
    return pd.Series(joined, index=index[groups], dtype=object)


def _ev_by_encounter(part: pd.DataFrame, index: pd.Index) -> pd.Series:
    return _joined(part, "ev", " | ", index)


def _has(part: pd.DataFrame, index: pd.Index) -> np.ndarray:
    """Per encounter of ``index``: whether ``part`` (rows with ``enc``) has a row of it."""
    return np.bincount(part["enc"].to_numpy(), minlength=len(index)) > 0


def _overlap_facts(facts: pd.DataFrame, a: pd.DataFrame, b: pd.DataFrame, min_overlap_minutes: int) -> None:
    """Drug infusions overlapping each other (same site: concurrent; two
    sites: two initial services) or only hydration. Sets columns of ``facts``."""
    enc = facts.index
    dinf = b[b["drug_class"].isin(list(DRUG_CLASSES)) & (b["kind"] == "infusion")]
    dd = _overlaps(dinf, dinf, distinct=True)
    dd = dd[dd["minutes"] >= min_overlap_minutes]
    same = dd["grp_x"] == dd["grp_y"]
    facts["same_site_overlap"] = enc.isin(dd.loc[same, "encounter_id"])
    diff = _best(dd[~same])
    facts["diff_site_overlap"] = enc.isin(diff.index)
    facts["diff_site_ev"] = diff["ev_x"] + " | " + diff["ev_y"]
    facts["diff_site_text"] = (diff["ev_x"] + " at site '" + diff["site_x"] + "' and " + diff["ev_y"]
                               + " at site '" + diff["site_y"] + "' overlapped " + diff["minutes"].astype(str)
                               + " min through two different access sites")
    drug_infusions = a[(a["kind"] == "infusion") & a["drug_class"].isin(list(DRUG_CLASSES))]
    facts["drug_inf_ev"] = _ev_by_encounter(drug_infusions, enc)
    # Hydration never earns the concurrent code (R-E4): which drug it overlapped.
    dh = _best(_overlaps(dinf, b[b["kind"] == "hydration"], distinct=False))
    facts["hyd_overlap"] = enc.isin(dh.index)
    facts["hyd_conc_ev"] = dh["ev_x"] + " | " + dh["ev_y"]
    facts["hyd_conc_text"] = (dh["ev_x"] + " overlapped only hydration " + dh["ev_y"] + " ("
                              + dh["minutes"].astype(str) + " min)")


def _holds(values: pd.Series, part: str) -> pd.Series:
    """``values.astype(str).str.contains(part)`` (a bool Series aligned with ``values``).

    A column of text (infusate ids nearly all differ) is searched in Arrow,
    in C; any other (numbers, missing values) looks at each distinct value once."""
    if values.dtype == object and len(values) and pd.api.types.infer_dtype(values, skipna=False) == "string":
        text = pa.array(values.to_numpy(), type=pa.large_string())
        found = pc.match_substring(text, part).to_numpy(zero_copy_only=False)
        return pd.Series(found, index=values.index, dtype=bool)
    return map_distinct(values, lambda v: part in str(v)).astype(bool)


def _bag_facts(facts: pd.DataFrame, a: pd.DataFrame) -> None:
    """Several drugs in one bag (R-D5); one drug in several bags (R-D4)."""
    enc = facts.index
    mixed = a[a["drug_class"].isin(list(DRUG_CLASSES)) & _holds(a["drug_label"], "+")]
    facts["mixed_bag"] = _has(mixed, enc)
    facts["mixed_ev"] = _ev_by_encounter(mixed, enc)
    multi = a[(a["kind"] == "infusion") & _holds(a["infusates"], ",")]
    facts["same_drug_bags"] = _has(multi, enc)
    facts["same_drug_ev"] = _ev_by_encounter(multi, enc)


def _short_facts(facts: pd.DataFrame, a: pd.DataFrame) -> None:
    """Infusions of 15 active minutes or less, a push or injection (R-C2),
    per family of :data:`INFUSION_FAMILIES` (``short_<family>`` and its ``_ev``)."""
    enc = facts.index
    short = a[a["has_blocks"].astype(bool) & a["drug_class"].isin(list(DRUG_CLASSES))
              & a["kind"].isin(["push", "injection"])]
    family = np.select([short["kind"] == "injection", short["drug_class"] == CHEMO], ["sc", "chemo"], "ther")
    short = short.assign(family=family)
    for fam in INFUSION_FAMILIES:  # three families, not rows
        part = short[short["family"] == fam]
        facts[f"short_{fam}"] = _has(part, enc)
        facts[f"short_{fam}_ev"] = _ev_by_encounter(part, enc)


def _repeat_push_facts(facts: pd.DataFrame, a: pd.DataFrame) -> None:
    """A push of the same drug on one site 30 minutes or less after the
    previous one (R-F2): the first such pair per encounter."""
    keys = ["encounter_id", "grp", "service_key", "start", "admin_id"]
    # Only the keys and the evidence are sorted (and so copied): nothing else is read.
    pushes = a.loc[((a["kind"] == "push") & a["drug_class"].isin(list(DRUG_CLASSES))).to_numpy(), keys + ["ev"]]
    pushes = pushes.sort_values(keys, kind="mergesort")
    # The rows are sorted by group: a row's previous push is the row before, when of the same
    # group (as a group-by shift, a missing key never groups). No group-by is built.
    same = np.zeros(len(pushes), dtype=bool)
    same[1:] = True
    for key in ("encounter_id", "grp", "service_key"):
        values = pushes[key].to_numpy()
        same[1:] &= (values[1:] == values[:-1]) & pd.notna(values[1:])
    start, timed = _ns(pushes["start"]), pushes["start"].notna().to_numpy()
    later = np.flatnonzero(same)
    gap = (start[later] - start[later - 1]) / 1e9 / 60  # seconds first, as total_seconds() gives them
    hit = (gap <= REPEAT_PUSH_MINUTES) & timed[later] & timed[later - 1]  # a missing time has no gap
    rows, gap = later[hit], gap[hit]
    fast = pushes.iloc[rows].assign(gap=gap, prev_ev=pushes["ev"].to_numpy()[rows - 1])
    fast = fast.drop_duplicates("encounter_id").set_index("encounter_id")
    facts["fast_repeat"] = facts.index.isin(fast.index)
    facts["fast_ev"] = fast["prev_ev"] + " | " + fast["ev"]
    facts["fast_text"] = (fast["prev_ev"] + " and " + fast["ev"] + " are "
                          + fast["gap"].astype("int64").astype(str) + " min apart")


def _as_text(values: pd.Series) -> pd.Series:
    """``values.astype(str)``: the column itself when every value is already a ``str``
    (evidence is: no hash of nearly distinct texts), else each distinct value converted once."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    return map_distinct(values, str)


#: The columns of the administrations the facts read (with ``site_group`` and
#: ``evidence`` when present).
_READ = ("encounter_id", "service_key", "admin_id", "kind", "drug_class", "route", "site", "start", "end",
         "has_blocks", "drug_label", "infusates")


def encounter_facts(admins: pd.DataFrame, blocks: pd.DataFrame | None, min_overlap_minutes: int) -> pd.DataFrame:
    """Per-encounter timeline facts that decide a finding's key and evidence.

    Returns:
        indexed by ``encounter_id`` (every encounter of ``admins``):
        booleans (``same_site_overlap``, ``diff_site_overlap``,
        ``hyd_overlap``, ``mixed_bag``, ``same_drug_bags``, ``short_ther`` /
        ``short_chemo`` / ``short_sc``, ``fast_repeat``, ``pump_start``), minutes
        (``hyd_clock``, ``hyd_free``, int64), the evidence text behind each
        (``*_ev``, ``*_text``; NaN where the fact does not hold), ``sites``
        and ``all_ev``.
    """
    # A frame of the read columns only, sharing their arrays (``admins`` is never written):
    # every filter below then copies these, not each column of the administrations.
    a = pd.DataFrame({c: admins[c] for c in _READ}, index=admins.index, copy=False)
    a["grp"] = _as_text(admins["site_group"] if "site_group" in admins else admins["site"])
    a["ev"] = _as_text(admins["evidence"] if "evidence" in admins else admins["drug_label"])
    a["site"] = _as_text(admins["site"].fillna(""))
    # Encounters as int codes (``enc``): every per-encounter join and flag is on them.
    a["enc"], names = pd.factorize(a["encounter_id"])
    facts = pd.DataFrame(index=pd.Index(names, name="encounter_id"))
    b = _blocks(a, blocks)
    _overlap_facts(facts, a, b, min_overlap_minutes)
    _bag_facts(facts, a)
    _short_facts(facts, a)
    minutes = _hydration_minutes(b, len(facts))
    facts["hyd_clock"], facts["hyd_free"] = minutes["hyd_clock"].to_numpy(), minutes["hyd_free"].to_numpy()
    facts["hyd_ev"] = _ev_by_encounter(a[a["kind"] == "hydration"], facts.index)
    _repeat_push_facts(facts, a)
    # A pump start: a drug pump left running or timed for more than 8 hours (R-H8).
    pumps = a[a["kind"] == "pump"]
    facts["pump_start"] = _has(pumps, facts.index)
    facts["pump_ev"] = _ev_by_encounter(pumps, facts.index)
    facts["sites"] = _joined(a[a["site"] != ""], "site", ", ", facts.index, sort=True)
    facts["all_ev"] = _ev_by_encounter(a[a["kind"] != "none"], facts.index)
    return facts


def _short_infusion(f: pd.DataFrame, diff: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """An infusion code billed for an administration of 15 active minutes or
    less, and the push / injection code it displaced, in the same family
    (R-C2): both rows of the pair hit, with the short administrations as
    evidence."""
    e, h = diff["encounter_id"], diff["hcpcs"]
    hit_any = pd.Series(False, index=diff.index)
    ev = pd.Series("", index=diff.index, dtype=object)
    # An over- or under-billed line is itself a difference: ``diff`` holds every one of them.
    for fam, (inf_codes, short_codes) in INFUSION_FAMILIES.items():  # three families, not rows
        inf_over = e.isin(e[h.isin(inf_codes) & diff["over"]])
        short_under = e.isin(e[h.isin(short_codes) & diff["under"]])
        hit = f[f"short_{fam}"] & (
            (h.isin(inf_codes) & diff["over"] & short_under) | (h.isin(short_codes) & diff["under"] & inf_over))
        hit_any |= hit
        ev = ev.mask(hit, f[f"short_{fam}_ev"])
    return hit_any, ev


def row_facts(facts: pd.DataFrame, diff: pd.DataFrame, hydration: pd.DataFrame) -> pd.DataFrame:
    """:func:`encounter_facts` aligned with the differences (index ``0..n-1``).

    An encounter with nothing charted has every flag False and 0 minutes.
    Adds ``hyd_credited`` (creditable hydration minutes of the coding step,
    runs of >= 31 minutes, 0 when none) and ``short_infusion`` /
    ``short_infusion_ev`` (:func:`_short_infusion`).
    """
    f = facts.reindex(diff["encounter_id"]).reset_index(drop=True)
    flags = [c for c in facts.columns if facts[c].dtype == bool]
    f[flags] = f[flags].fillna(False).astype(bool)
    f[["hyd_clock", "hyd_free"]] = f[["hyd_clock", "hyd_free"]].fillna(0).astype("int64")
    credited = hydration.set_index("encounter_id")["hydration_minutes"] if not hydration.empty else pd.Series(
        dtype=float)
    f["hyd_credited"] = diff["encounter_id"].map(credited).fillna(0)
    f["short_infusion"], f["short_infusion_ev"] = _short_infusion(f, diff)
    return f
