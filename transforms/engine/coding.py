"""Administration timeline -> expected drug-administration lines.

Implements the coding rules of ../shared/domain/coding-rules.md for the
facility (institutional) claim; rule ids in ``rule_ids`` cite that file:

* one initial service per encounter and vascular access site, chosen by the
  hierarchy chemo > therapeutic > hydration, infusion > push (R-A2, R-B1);
  a second site only when it is in use at the same time as the first
  (R-B3, R-B4), its initial line carrying ``XU``;
* push <= 15 active minutes, infusion >= 16 (R-C2); additional hours only for
  more than 30 minutes past each hour (R-C3, section 0 formulas);
* sequential new drug 96367/96417 with its hours on 96366/96415 (R-D2, R-D3);
* concurrent 96368 once per encounter for a therapeutic infusate overlapping
  another one on the same site (R-E1, R-E2, D4), never within one bag (R-D5)
  nor with hydration (R-E4);
* pushes 96375 per new drug, 96376 for the same drug more than 30 minutes after
  its last reported push (facility only) (R-F1, R-F2, R-F4);
* hydration credited only for minutes no drug ran (R-G7), added up per
  encounter or per run (policy, D5), >= 31 minutes (R-C4), secondary hydration
  coded 96361 only (R-G5);
* SC/IM injections 96372, antineoplastic 96401/96402 (R-A6, R-H6); pump start
  96416 (R-H8).

Units are counted on the encounter's continuous total; each unit is dated on
the facility-local day on which the minute that earned it fell (CMS line-item
dates, R-C5) or, under policy ``line_date=start``, on the service's start day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.frames import coverage, join_unique
from transforms.vocab.classes import (
    RANK_CHEMO_INFUSION,
    RANK_CHEMO_PUSH,
    RANK_PRIMARY,
    RANK_THER_INFUSION,
    RANK_THER_PUSH,
)
from transforms.vocab.codes import (
    EXTRA_HOUR_FIRST,
    FIRST_HOUR,
    HOUR,
    HYDRATION_FIRST,
    REPEAT_PUSH_MINUTES,
    SETTING_FACILITY,
    SETTING_PROFESSIONAL,
)
from transforms.vocab.policy import Policy
from transforms.engine.timeline import Timeline

LINE_ITEM_COLUMNS = [
    "encounter_id", "site_group", "timing_id", "hcpcs", "modifiers", "units",
    "first_minute", "step_minutes", "rule_ids", "evidence", "anchor",
]


@dataclass(frozen=True)
class Coding:
    """Result of coding a timeline.

    Attributes:
        expected_lines: contract section 3 ``expected_codes`` rows.
        roles: one row per administration: ``admin_id``, ``site_group``,
            ``role`` and the ``codes`` it earned (for explanations).
        hydration: per encounter, the creditable hydration minutes.
    """

    expected_lines: pd.DataFrame
    roles: pd.DataFrame
    hydration: pd.DataFrame


def extra_hours(minutes: pd.Series) -> pd.Series:
    """Additional-hour units after a first hour: max(0, (T - 31) // 60).

    91-150 minutes -> 1, 151-210 -> 2 (section 0; Ex 17: 90 -> 0, 91 -> 1).
    """
    return ((minutes - 31) // 60).clip(lower=0).astype("int64")


def secondary_hydration_units(minutes: pd.Series) -> pd.Series:
    """96361 units for hydration that is not the initial service.

    (T - 31) // 60 + 1 when T >= 31: 31-90 -> 1, 91-150 -> 2 (Medlearn Ex 5:
    175 -> 3); 0 below 31 minutes (R-C4).
    """
    units = (minutes - 31) // 60 + 1
    return units.where(minutes >= 31, 0).astype("int64")


def assign_site_groups(timeline: Timeline) -> pd.DataFrame:
    """Site group per administration: 0 for the main access, 1.. for others.

    A site is a separate access only when something runs on it while
    something runs on the encounter's first site (R-B3); otherwise (a restart
    after infiltration, R-B4) it joins group 0. Lumens were already folded
    into one site by :func:`transforms.engine.timeline.normalise_site`.

    Returns:
        ``admins`` with an added ``site_group`` column (int).
    """
    admins = timeline.administrations
    # Only reportable services open or use an access: a KVO line or a flush
    # on another site is not a second site in use (R-G3).
    reportable = admins[admins["has_blocks"] & ~admins["drug_class"].isin(["diluent", "not_reportable"])]
    blocks = timeline.blocks.merge(reportable[["encounter_id", "service_key"]], on=["encounter_id", "service_key"])
    first_site = (
        blocks.sort_values(["encounter_id", "start"], kind="mergesort")
        .drop_duplicates("encounter_id")[["encounter_id", "site"]]
        .rename(columns={"site": "main_site"})
    )
    b = blocks.merge(first_site, on="encounter_id")
    main = b[b["site"] == b["main_site"]][["encounter_id", "start", "end"]]
    other = b[(b["site"] != b["main_site"]) & (b["site"] != "")][["encounter_id", "site", "start", "end"]]
    pairs = other.merge(main, on="encounter_id", suffixes=("", "_m"))
    overlapping = pairs[(pairs["start"] < pairs["end_m"]) & (pairs["start_m"] < pairs["end"])]
    separate = (
        overlapping.groupby(["encounter_id", "site"], sort=False)["start"].min().reset_index()
        .sort_values(["encounter_id", "start"], kind="mergesort")
    )
    separate["site_group"] = separate.groupby("encounter_id").cumcount() + 1
    out = admins.merge(separate[["encounter_id", "site", "site_group"]], on=["encounter_id", "site"], how="left")
    out["site_group"] = out["site_group"].fillna(0).astype("int64")
    return out


def _hydration_pieces(blocks: pd.DataFrame, admins: pd.DataFrame) -> pd.DataFrame:
    """Intervals where hydration ran and no other infusion did (R-G7, R-E4).

    A sweep over start/end points per encounter: a piece counts where the
    number of running hydration blocks is > 0 and of running drug blocks
    (chemo, therapeutic, blood, unknown: anything but hydration and diluent)
    is 0.
    """
    cls = admins[admins["has_blocks"]][
        ["encounter_id", "service_key", "drug_class"]
    ]
    b = blocks.merge(cls, on=["encounter_id", "service_key"])
    hyd = b[b["drug_class"] == "hydration"]
    drug = b[~b["drug_class"].isin(["hydration", "diluent"])]
    if hyd.empty:
        empty_t = pd.Series([], dtype="datetime64[ns, UTC]")
        return pd.DataFrame({"encounter_id": pd.Series([], dtype=object), "start": empty_t,
                             "end": empty_t, "run": pd.Series([], dtype="int64")})
    drug = drug[drug["encounter_id"].isin(hyd["encounter_id"])]
    sweep = coverage(hyd, drug)
    pieces = sweep[(sweep["n_first"] > 0) & (sweep["n_second"] == 0)][["encounter_id", "start", "end"]]
    pieces = pieces.reset_index(drop=True)
    # Contiguous pieces form one run (policy hydration_aggregation=run).
    prev_end = pieces.groupby("encounter_id", sort=False)["end"].shift()
    pieces["run"] = (prev_end.isna() | (pieces["start"] > prev_end)).cumsum()
    return pieces


def _items(frame: pd.DataFrame, **cols: object) -> pd.DataFrame:
    """Line items for ``frame`` rows; ``cols`` are constants or Series."""
    out = pd.DataFrame(index=frame.index)
    out["encounter_id"] = frame["encounter_id"]
    out["site_group"] = frame["site_group"]
    out["timing_id"] = frame["admin_id"] if "admin_id" in frame else frame["timing_id"]
    out["anchor"] = frame["start"]
    out["evidence"] = frame["evidence"]
    out["modifiers"] = ""
    for name, value in cols.items():
        out[name] = value
    return out[LINE_ITEM_COLUMNS]


def evidence_text(admins: pd.DataFrame, facility_tz: str) -> pd.Series:
    """``drug [infusates] local start-end (N min)`` for each administration."""
    start = admins["start"].dt.tz_convert(facility_tz).dt.strftime("%Y-%m-%d %H:%M")
    end = admins["end"].dt.tz_convert(facility_tz).dt.strftime("%H:%M")
    timed = admins["minutes"] > 0
    when = start.where(~timed, start + "-" + end + " (" + admins["minutes"].astype(str) + " min)")
    return admins["drug_label"].astype(str) + " [" + admins["infusates"].astype(str) + "] " + when


def _reported_pushes(pushes: pd.DataFrame) -> pd.Series:
    """Which pushes are reported: the first of each drug, then each one more
    than 30 minutes after the last *reported* push of that drug (R-F2).

    Iterates over rounds (one per reported push of the busiest drug), each
    round vectorised over all encounters.
    """
    reported = pd.Series(False, index=pushes.index)
    remaining = pushes.sort_values(["start", "admin_id"], kind="mergesort")
    keys = ["encounter_id", "site_group", "service_key"]
    while not remaining.empty:
        first = remaining.groupby(keys, sort=False).head(1)
        reported.loc[first.index] = True
        last = first.set_index(keys)["start"]
        rest = remaining.drop(first.index)
        last_time = pd.Series(
            pd.to_datetime(last.reindex(pd.MultiIndex.from_frame(rest[keys])).to_numpy(), utc=True),
            index=rest.index,
        )
        remaining = rest[(rest["start"] - last_time) > pd.Timedelta(minutes=REPEAT_PUSH_MINUTES)]
    return reported


def code_facility(timeline: Timeline, policy: Policy, facility_tz: str) -> Coding:
    """Expected facility (institutional claim) lines; see :func:`code_lines`."""
    return code_lines(timeline, policy, facility_tz, SETTING_FACILITY)


def code_lines(timeline: Timeline, policy: Policy, facility_tz: str, setting: str) -> Coding:
    """Expected lines for every encounter of ``timeline`` in one setting.

    The facility claim chooses the initial service by the hierarchy (R-A2).
    The professional (office) claim chooses the administration charted as
    ``primary`` (the main reason for the encounter, R-A4) when there is one,
    hydration included (R-K3: 96360 + 96375), else the hierarchy; 96376 is
    facility-only (R-F2).

    Args:
        timeline: from :func:`transforms.engine.timeline.build_timeline`.
        policy: coding policy.
        facility_tz: IANA zone used to date lines (``America/New_York``).
        setting: ``facility`` or ``professional``.

    Returns:
        :class:`Coding`; ``expected_lines`` has the contract columns plus
        ``site_group``. Invariants: at most one 96368 unit per encounter; at
        most one initial line per site group, those of groups > 0 carry XU.
    """
    admins = assign_site_groups(timeline)
    admins["evidence"] = evidence_text(admins, facility_tz)
    blocks = timeline.blocks.merge(
        admins[admins["has_blocks"]][["encounter_id", "service_key", "admin_id", "site_group", "kind", "drug_class"]],
        on=["encounter_id", "service_key"],
    )
    role = pd.Series("not_reportable", index=admins.index, dtype=object)
    role[admins["drug_class"] == "unknown"] = "unclassified"
    items: list[pd.DataFrame] = []

    # --- initial service per (encounter, site group) ----------------------
    rank = np.select(
        [
            (admins["drug_class"] == "chemo") & (admins["kind"] == "infusion"),
            (admins["drug_class"] == "chemo") & (admins["kind"] == "push"),
            (admins["drug_class"] == "therapeutic") & (admins["kind"] == "infusion"),
            (admins["drug_class"] == "therapeutic") & (admins["kind"] == "push"),
        ],
        [RANK_CHEMO_INFUSION, RANK_CHEMO_PUSH, RANK_THER_INFUSION, RANK_THER_PUSH],
        default=0,
    )
    if setting == SETTING_PROFESSIONAL:
        # The physician's main reason outranks the hierarchy (R-A4).
        primary = admins["primary"] & admins["kind"].isin(["infusion", "push", "hydration"]) & (
            admins["drug_class"].isin(["chemo", "therapeutic", "hydration"]))
        rank = np.where(primary, RANK_PRIMARY, rank)
    admins["rank"] = rank
    cand = admins[admins["rank"] > 0].sort_values(
        ["encounter_id", "site_group", "rank", "start", "admin_id"],
        ascending=[True, True, False, True, True],
        kind="mergesort",
    )
    initial = cand.drop_duplicates(["encounter_id", "site_group"])
    # A primary hydration is coded by the hydration rules below as 96360.
    hydration_initial_units = initial[initial["kind"] == "hydration"][["encounter_id", "site_group"]]
    initial = initial[initial["kind"] != "hydration"]
    admins["is_initial"] = admins["admin_id"].isin(initial["admin_id"])
    xu = np.where(initial["site_group"] > 0, "XU", "")
    is_inf = initial["kind"] == "infusion"
    is_chemo = initial["drug_class"] == "chemo"
    init_code = np.select(
        [is_chemo & is_inf, is_chemo, is_inf], ["96413", "96409", "96365"], default="96374"
    )
    it = _items(initial, hcpcs=init_code, units=1, first_minute=np.where(is_inf, FIRST_HOUR, 0),
                step_minutes=0, rule_ids="R-A2;R-B1;R-C2")
    it["modifiers"] = xu
    items.append(it)
    inf_init = initial[is_inf]
    items.append(_items(
        inf_init,
        hcpcs=np.where(inf_init["drug_class"] == "chemo", "96415", "96366"),
        units=extra_hours(inf_init["minutes"]), first_minute=EXTRA_HOUR_FIRST, step_minutes=HOUR,
        rule_ids="R-C3",
    ))
    role[admins["is_initial"]] = "initial"

    # --- concurrent and sequential infusions -----------------------------
    infusions = admins[(admins["kind"] == "infusion") & admins["drug_class"].isin(["chemo", "therapeutic"])]
    inf_blocks = blocks[blocks["admin_id"].isin(infusions["admin_id"])]
    order = infusions.set_index("admin_id")[["start", "rank", "is_initial"]]
    pairs = inf_blocks.merge(inf_blocks, on=["encounter_id", "site_group"], suffixes=("_x", "_y"))
    pairs = pairs[pairs["admin_id_x"] != pairs["admin_id_y"]]
    overlap = (
        pairs[["end_x", "end_y"]].min(axis=1) - pairs[["start_x", "start_y"]].max(axis=1)
    ).dt.total_seconds().clip(lower=0)
    pair_overlap = pairs.assign(overlap=overlap).groupby(["admin_id_x", "admin_id_y"])["overlap"].sum().reset_index()
    pair_overlap = pair_overlap[pair_overlap["overlap"] >= policy.concurrent_min_overlap_minutes * 60]
    ox = order.reindex(pair_overlap["admin_id_x"]).reset_index(drop=True)
    oy = order.reindex(pair_overlap["admin_id_y"]).reset_index(drop=True)
    y_before = (
        oy["is_initial"].to_numpy()
        | (oy["start"] < ox["start"]).to_numpy()
        | ((oy["start"] == ox["start"]) & (oy["rank"] > ox["rank"])).to_numpy()
        | ((oy["start"] == ox["start"]) & (oy["rank"] == ox["rank"])).to_numpy()
        & (pair_overlap["admin_id_y"] < pair_overlap["admin_id_x"]).to_numpy()
    )
    overlapping_x = set(pair_overlap.loc[y_before, "admin_id_x"])
    later = infusions[~infusions["is_initial"]]
    conc_ok = later["admin_id"].isin(overlapping_x) & (later["drug_class"] == "therapeutic")
    conc = later[conc_ok].sort_values(["encounter_id", "start", "admin_id"], kind="mergesort")
    first_conc = conc.drop_duplicates("encounter_id")
    items.append(_items(first_conc, hcpcs="96368", units=1, first_minute=0, step_minutes=0,
                        rule_ids="R-E1;R-E2;R-E5"))
    role[admins["admin_id"].isin(first_conc["admin_id"])] = "concurrent"
    extra_conc = conc[~conc["admin_id"].isin(first_conc["admin_id"])]
    if policy.extra_concurrent == "nothing":
        role[admins["admin_id"].isin(extra_conc["admin_id"])] = "concurrent_extra"
        seq = later[~later["admin_id"].isin(conc["admin_id"])]
    else:
        seq = later[~later["admin_id"].isin(first_conc["admin_id"])]
    chemo_seq = seq["drug_class"] == "chemo"
    items.append(_items(seq, hcpcs=np.where(chemo_seq, "96417", "96367"), units=1,
                        first_minute=FIRST_HOUR, step_minutes=0, rule_ids="R-D2;R-D3"))
    items.append(_items(seq, hcpcs=np.where(chemo_seq, "96415", "96366"), units=extra_hours(seq["minutes"]),
                        first_minute=EXTRA_HOUR_FIRST, step_minutes=HOUR, rule_ids="R-C3;R-D2"))
    role[admins["admin_id"].isin(seq["admin_id"])] = "sequential"

    # --- pushes -----------------------------------------------------------
    pushes = admins[(admins["kind"] == "push") & admins["drug_class"].isin(["chemo", "therapeutic"])]
    reported = _reported_pushes(pushes)
    rep = pushes[reported.reindex(pushes.index, fill_value=False)]
    first_of_drug = ~rep.duplicated(["encounter_id", "site_group", "service_key"])
    later_rep = rep[~rep["is_initial"]]
    first_later = first_of_drug[~rep["is_initial"]]
    # The initial push's drug is already "reported" once.
    init_keys = rep[rep["is_initial"]][["encounter_id", "site_group", "service_key"]]
    is_init_drug = pd.MultiIndex.from_frame(later_rep[["encounter_id", "site_group", "service_key"]]).isin(
        pd.MultiIndex.from_frame(init_keys)
    )
    new_drug = first_later.to_numpy() & ~is_init_drug
    chemo_push = later_rep["drug_class"] == "chemo"
    repeat_code = "96376" if setting == SETTING_FACILITY else ""  # facility only (R-F2)
    push_code = np.select(
        [chemo_push & new_drug, ~chemo_push & new_drug, ~chemo_push & ~new_drug],
        ["96411", "96375", repeat_code],
        default="",
    )
    pl = later_rep.assign(hcpcs=push_code)
    pl = pl[pl["hcpcs"] != ""]
    items.append(_items(pl, hcpcs=pl["hcpcs"], units=1, first_minute=0, step_minutes=0,
                        rule_ids=np.where(pl["hcpcs"] == "96376", "R-F2", "R-F1;R-F4;R-F5")))
    role[admins["admin_id"].isin(pl.loc[pl["hcpcs"] != "96376", "admin_id"])] = "push"
    role[admins["admin_id"].isin(pl.loc[pl["hcpcs"] == "96376", "admin_id"])] = "repeat_push"
    not_rep = pushes[~pushes["admin_id"].isin(pl["admin_id"]) & ~pushes["is_initial"]]
    role[admins["admin_id"].isin(not_rep["admin_id"])] = "push_not_reportable"

    # --- injections, intra-arterial, pump, SC infusion ---------------------
    inj = admins[admins["kind"].isin(["injection", "intra_arterial"]) & admins["drug_class"].isin(["chemo", "therapeutic"])]
    inj_code = np.select(
        [
            (inj["kind"] == "intra_arterial") & (inj["drug_class"] == "chemo"),
            inj["kind"] == "intra_arterial",
            (inj["drug_class"] == "chemo") & inj["hormonal"],
            inj["drug_class"] == "chemo",
        ],
        ["96420", "96373", "96402", "96401"],
        default="96372",
    )
    items.append(_items(inj, hcpcs=inj_code, units=1, first_minute=0, step_minutes=0, rule_ids="R-A6;R-H6"))
    role[admins["admin_id"].isin(inj["admin_id"])] = "injection"
    pump = admins[admins["kind"] == "pump"]
    items.append(_items(pump, hcpcs="96416", units=1, first_minute=0, step_minutes=0, rule_ids="R-H8"))
    role[admins["admin_id"].isin(pump["admin_id"])] = "pump"
    sc = admins[(admins["kind"] == "sc_infusion") & admins["drug_class"].isin(["chemo", "therapeutic"])]
    sc = sc.sort_values(["encounter_id", "start"], kind="mergesort")
    sc_first = sc.drop_duplicates("encounter_id")
    sc_more = sc[~sc["admin_id"].isin(sc_first["admin_id"])]
    items.append(_items(sc_first, hcpcs="96369", units=1, first_minute=FIRST_HOUR, step_minutes=0, rule_ids="R-C2"))
    items.append(_items(sc_first, hcpcs="96370", units=extra_hours(sc_first["minutes"]),
                        first_minute=EXTRA_HOUR_FIRST, step_minutes=HOUR, rule_ids="R-C3"))
    items.append(_items(sc_more, hcpcs="96371", units=1, first_minute=0, step_minutes=0, rule_ids="R-C2"))
    role[admins["admin_id"].isin(sc["admin_id"])] = "sc_infusion"

    # --- hydration ---------------------------------------------------------
    pieces = _hydration_pieces(timeline.blocks, admins)
    hyd_admins = admins[admins["kind"] == "hydration"].sort_values("start", kind="mergesort")
    hyd_group = hyd_admins.drop_duplicates("encounter_id").set_index("encounter_id")["site_group"]
    pieces["site_group"] = pieces["encounter_id"].map(hyd_group).fillna(0).astype("int64")
    pieces["seconds"] = (pieces["end"] - pieces["start"]).dt.total_seconds()
    run_key = "encounter_id" if policy.hydration_aggregation == "encounter" else "run"
    runs = pieces.groupby(run_key, sort=False).agg(
        encounter_id=("encounter_id", "first"), site_group=("site_group", "first"),
        start=("start", "min"), seconds=("seconds", "sum"),
    ).reset_index(drop=True)
    runs["minutes"] = (runs["seconds"] // 60).astype("int64")
    runs = runs[runs["minutes"] >= HYDRATION_FIRST].sort_values(["encounter_id", "start"], kind="mergesort")
    runs = runs.reset_index(drop=True)
    runs["timing_id"] = -1 - runs.index.to_numpy()
    pieces = pieces.merge(
        runs[["encounter_id", "start", "timing_id"]].rename(columns={"start": "run_start"}),
        left_on=[run_key] if run_key == "encounter_id" else ["encounter_id"],
        right_on=[run_key] if run_key == "encounter_id" else ["encounter_id"],
        how="inner",
    )
    if run_key == "run":
        run_of = pieces.groupby("run")["start"].transform("min")
        pieces = pieces[pieces["run_start"] == run_of]
    hyd_ev = hyd_admins.groupby("encounter_id")["evidence"].agg("; ".join)
    runs["evidence"] = runs["encounter_id"].map(hyd_ev).astype(str) + " -> " + runs["minutes"].astype(str) + " creditable min"
    has_drug = runs.set_index(["encounter_id", "site_group"]).index.isin(
        pd.MultiIndex.from_frame(initial[["encounter_id", "site_group"]])
    ) & ~runs.set_index(["encounter_id", "site_group"]).index.isin(
        pd.MultiIndex.from_frame(hydration_initial_units)
    )
    is_first_run = ~runs.duplicated(["encounter_id", "site_group"])
    hyd_initial = runs[~has_drug & is_first_run]
    hyd_second = runs[has_drug | ~is_first_run]
    hi = _items(hyd_initial, hcpcs="96360", units=1, first_minute=HYDRATION_FIRST, step_minutes=0,
                rule_ids="R-A2;R-B1;R-C4;R-G6;R-G7")
    hi["modifiers"] = np.where(hyd_initial["site_group"] > 0, "XU", "")  # a second site's initial (R-B3)
    items.append(hi)
    items.append(_items(hyd_initial, hcpcs="96361", units=extra_hours(hyd_initial["minutes"]),
                        first_minute=EXTRA_HOUR_FIRST, step_minutes=HOUR, rule_ids="R-C3;R-G6;R-G7"))
    items.append(_items(hyd_second, hcpcs="96361", units=secondary_hydration_units(hyd_second["minutes"]),
                        first_minute=HYDRATION_FIRST, step_minutes=HOUR, rule_ids="R-G5;R-G6;R-G7"))
    role[admins["kind"] == "hydration"] = np.where(
        admins.loc[admins["kind"] == "hydration", "encounter_id"].isin(runs["encounter_id"]),
        "hydration", "hydration_not_reportable",
    )

    line_items = pd.concat([i for i in items if not i.empty], ignore_index=True) if any(
        not i.empty for i in items) else pd.DataFrame(columns=LINE_ITEM_COLUMNS)
    line_items = line_items[line_items["units"] > 0]
    timing = pd.concat(
        [
            blocks[["admin_id", "start", "end"]].rename(columns={"admin_id": "timing_id"}),
            pieces[["timing_id", "start", "end"]],
        ],
        ignore_index=True,
    )
    lines = _date_units(line_items, timing, policy, facility_tz)
    lines["setting"] = setting
    roles = admins[["admin_id", "encounter_id", "site_group"]].assign(role=role.to_numpy())
    hydration = runs.groupby("encounter_id")["minutes"].sum().rename("hydration_minutes").reset_index()
    return Coding(expected_lines=lines, roles=roles, hydration=hydration)


def _date_units(items: pd.DataFrame, timing: pd.DataFrame, policy: Policy, facility_tz: str) -> pd.DataFrame:
    """Explode items into units, date each unit, regroup into lines.

    Unit k of an item is earned at active minute ``first + k * step``; its
    timestamp is found in the item's timing pieces (blocks or hydration
    pieces) with a backward as-of join on cumulative active seconds.
    """
    if items.empty:
        return pd.DataFrame(
            {c: pd.Series([], dtype="int64" if c in ("units", "site_group") else object)
             for c in ["encounter_id", "service_date", "hcpcs", "modifiers", "units", "site_group", "rule_ids", "evidence"]}
        )
    n = items["units"].astype("int64").to_numpy()
    u = items.loc[items.index.repeat(n)].reset_index(drop=True)
    u["k"] = u.groupby(np.repeat(np.arange(len(items)), n)).cumcount()
    u["units"] = 1
    minute = u["first_minute"].astype("int64") + u["k"] * u["step_minutes"].astype("int64")
    u["at_sec"] = (minute.astype(float) - 0.5) * 60.0
    timed = (minute > 0) & (policy.line_date == "threshold")
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
    u["service_date"] = pd.to_datetime(when, utc=True).dt.tz_convert(facility_tz).dt.date
    keys = ["encounter_id", "service_date", "hcpcs", "modifiers"]
    lines = u.groupby(keys, sort=True).agg(units=("units", "sum"), site_group=("site_group", "min"))
    rules = u[keys + ["rule_ids"]].assign(rule_ids=u["rule_ids"].str.split(";")).explode("rule_ids")
    lines["rule_ids"] = join_unique(rules, keys, "rule_ids", ";", sort=True)
    lines["evidence"] = join_unique(u, keys, "evidence", " | ")
    return lines.reset_index()
