"""Expected vs billed drug-administration lines -> findings a compliance team can act on.

Lines are compared per encounter and code (units summed over the encounter's
dates), for the codes 96360-96379 and 96401-96549 only; every other billed
line (E/M, drug J-codes, ...) is ignored. Each difference becomes one finding
whose ``finding`` key comes from :data:`transforms.vocab.findings.FINDING_KEYS`, chosen from what the
timeline shows (which infusates overlapped, on which access site and for how
many minutes; a mixed bag; the same drug in several bags; hydration running
with a drug; a push charted as a short infusion; a repeat push within 30
minutes; the hierarchy). Charting problems (missing stop times, unclassified
drugs) are findings too, with both unit columns 0.

Every finding carries (see :func:`annotate`):

* ``direction``: ``over_billed`` (compliance risk), ``under_billed`` (lost
  revenue) or ``documentation``; fixed by the key.
* ``severity``: ``high`` / ``medium`` / ``low`` by :func:`severity` (the rule
  is in its docstring).
* ``dollar_impact``: ``(billed_units - expected_units) x amount`` from a fee
  schedule (:mod:`transforms.reference.fees`); NaN without a schedule and for
  documentation findings; 0 for a code paid only as part of another service
  (OPPS status ``N``), which keeps its severity.
* ``explanation``: one sentence naming the drugs, infusates and local times
  from the MAR; ``evidence``: those MAR administrations
  (``drug [infusate ids] local start-end (N min)``).

An encounter whose billed lines equal the expected ones produces no finding
(unless its charting has a problem).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.frames import coverage, join_unique
from transforms.reference.fees import FeeSchedule, dollar_impact
from transforms.vocab.classes import DRUG_CLASSES
from transforms.vocab.codes import (
    ADD_ON_HOUR_CODES,
    CONCURRENT,
    HYDRATION_CODES,
    HYDRATION_FIRST,
    INFUSION_FAMILIES,
    INITIAL_CODES,
    PUSH_CODES,
    REPEAT_PUSH,
    REPEAT_PUSH_MINUTES,
    SEQUENTIAL_CODES,
    STRUCTURAL_CODES,
    is_drug_admin_code,
)
from transforms.vocab.findings import DIRECTION, DOCUMENTATION, HIGH, HIGH_KEYS, LOW, MEANING, MEDIUM, OVER, UNDER
from transforms.vocab.schemas import FINDING_OUTPUT_COLUMNS



def severity(findings: pd.DataFrame) -> pd.Series:
    """Severity of each finding (``high`` / ``medium`` / ``low``).

    The rule:

    * over-billed (compliance risk): ``high`` when the code is an initial,
      sequential or concurrent code (96360, 96365, 96369, 96374, 96409,
      96413, 96367, 96417, 96368: the codes that set a claim's structure and
      that RAC and payer audits target), or the key is one where the whole
      line should not be on the claim (:data:`HIGH_KEYS`); otherwise
      ``medium`` (add-on hours, pushes, hydration units, injections, MUE and
      PTP edits on other codes).
    * under-billed (lost revenue): ``medium`` for a structural code or
      ``administration_not_billed``; otherwise ``low``.
    * documentation: ``medium`` for ``missing_stop_time`` (units depend on
      it, D3); otherwise ``low``.

    Severity never depends on dollars: an add-on packaged under OPPS status
    ``N`` (0 direct dollars) keeps it.
    """
    d = findings["direction"]
    h = findings["hcpcs"].fillna("")
    k = findings["finding"]
    structural = h.isin(STRUCTURAL_CODES)
    out = np.select(
        [
            (d == OVER) & (structural | k.isin(HIGH_KEYS)),
            d == OVER,
            (d == UNDER) & (structural | (k == "administration_not_billed")),
            d == UNDER,
            (d == DOCUMENTATION) & (k == "missing_stop_time"),
        ],
        [HIGH, MEDIUM, MEDIUM, LOW, MEDIUM],
        default=LOW,
    )
    return pd.Series(out, index=findings.index, dtype=object)


def annotate(findings: pd.DataFrame, fees: FeeSchedule | None = None) -> pd.DataFrame:
    """Set ``direction`` (from the key), ``severity`` and ``dollar_impact``.

    Args:
        findings: rows with at least ``finding``, ``hcpcs``, ``setting``,
            ``billed_units`` and ``expected_units``.
        fees: fee schedule; ``None`` leaves ``dollar_impact`` NaN.

    Returns:
        A copy with the three columns set, in :data:`FINDING_OUTPUT_COLUMNS` order
        (extra columns dropped).
    """
    f = findings.copy()
    f["direction"] = f["finding"].map(DIRECTION).fillna(f.get("direction", pd.Series(index=f.index, dtype=object)))
    f["severity"] = severity(f)
    f["dollar_impact"] = dollar_impact(f, fees)
    for col in FINDING_OUTPUT_COLUMNS:
        if col not in f:
            f[col] = ""
    f["claim_id"] = f["claim_id"].astype(object)
    return f[list(FINDING_OUTPUT_COLUMNS)]


# --- timeline facts -------------------------------------------------------------
def _blocks(admins: pd.DataFrame, blocks: pd.DataFrame | None) -> pd.DataFrame:
    """Running intervals with the attributes of their administration.

    ``blocks`` are the timeline's (paused minutes excluded); without them the
    administrations' start-end intervals stand in.
    """
    cols = ["encounter_id", "service_key", "admin_id", "kind", "drug_class", "route", "grp", "site", "ev"]
    a = admins.loc[admins["has_blocks"].astype(bool), cols]
    src = a[["encounter_id", "service_key"]].join(admins[["start", "end"]]) if blocks is None else blocks
    return src[["encounter_id", "service_key", "start", "end"]].merge(a, on=["encounter_id", "service_key"])


def _overlaps(x: pd.DataFrame, y: pd.DataFrame, distinct: bool) -> pd.DataFrame:
    """Whole minutes each pair of administrations ran at the same time.

    Returns:
        one row per (encounter, admin x, admin y) with ``minutes`` > 0 and
        the attributes of both (suffixes ``_x`` / ``_y``).
    """
    p = x.merge(y, on="encounter_id", suffixes=("_x", "_y"))
    p = p[p["admin_id_x"] < p["admin_id_y"]] if distinct else p[p["admin_id_x"] != p["admin_id_y"]]
    sec = (p[["end_x", "end_y"]].min(axis=1) - p[["start_x", "start_y"]].max(axis=1)).dt.total_seconds()
    p = p.assign(sec=sec.clip(lower=0))
    keys = ["encounter_id", "admin_id_x", "admin_id_y"]
    attrs = [c for c in p.columns if c.endswith(("_x", "_y")) and c not in keys and not c.startswith(("start", "end"))]
    g = p.groupby(keys, as_index=False, sort=False).agg(sec=("sec", "sum"), **{c: (c, "first") for c in attrs})
    g["minutes"] = (g["sec"] // 60).astype("int64")
    return g[g["minutes"] > 0]


def _best(pairs: pd.DataFrame) -> pd.DataFrame:
    """The longest overlap per encounter (ties: lowest admin ids), indexed by encounter."""
    s = pairs.sort_values(["encounter_id", "minutes", "admin_id_x", "admin_id_y"],
                          ascending=[True, False, True, True], kind="mergesort")
    return s.drop_duplicates("encounter_id").set_index("encounter_id")


def _hydration_minutes(b: pd.DataFrame) -> pd.DataFrame:
    """Per encounter: ``hyd_clock`` minutes any hydration ran and
    ``hyd_free`` minutes it ran while no other infusion did (R-G7), before
    the 31-minute threshold; a sweep over start/end points.
    """
    hyd = b[b["kind"] == "hydration"]
    other = b[~b["drug_class"].isin(["hydration", "diluent"]) & b["encounter_id"].isin(hyd["encounter_id"])]
    if hyd.empty:
        return pd.DataFrame({"hyd_clock": pd.Series(dtype="int64"), "hyd_free": pd.Series(dtype="int64")})
    sweep = coverage(hyd, other)
    sweep["sec"] = (sweep["end"] - sweep["start"]).dt.total_seconds()
    running = sweep["n_first"] > 0
    out = pd.DataFrame(
        {
            "hyd_clock": sweep["sec"].where(running, 0).groupby(sweep["encounter_id"]).sum(),
            "hyd_free": sweep["sec"].where(running & (sweep["n_second"] == 0), 0).groupby(sweep["encounter_id"]).sum(),
        }
    )
    return (out // 60).astype("int64")


def _facts(admins: pd.DataFrame, blocks: pd.DataFrame | None, min_overlap_minutes: int) -> pd.DataFrame:
    """Per-encounter timeline facts that decide a finding's key and evidence.

    Returns:
        indexed by ``encounter_id``: booleans (``same_site_overlap``,
        ``diff_site_overlap``, ``hyd_overlap``, ``mixed_bag``,
        ``same_drug_bags``, ``short_ther`` / ``short_chemo`` / ``short_sc``,
        ``fast_repeat``), minutes (``hyd_clock``, ``hyd_free``) and the
        evidence text behind each (``*_ev``).
    """
    a = admins.copy()
    a["grp"] = a["site_group"].astype(str) if "site_group" in a else a["site"].astype(str)
    a["ev"] = a["evidence"].astype(str) if "evidence" in a else a["drug_label"].astype(str)
    a["site"] = a["site"].fillna("").astype(str)
    enc = pd.Index(a["encounter_id"].drop_duplicates(), name="encounter_id")
    facts = pd.DataFrame(index=enc)
    b = _blocks(a, blocks)
    is_drug = b["drug_class"].isin(list(DRUG_CLASSES))

    # Drug infusions overlapping each other: same site (concurrent) or not.
    dinf = b[is_drug & (b["kind"] == "infusion")]
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
    facts["drug_inf_ev"] = join_unique(a[(a["kind"] == "infusion") & a["drug_class"].isin(list(DRUG_CLASSES))],
                                       ["encounter_id"], "ev", " | ")

    # A drug infusion overlapping hydration.
    hyd_b = b[b["kind"] == "hydration"]
    dh = _best(_overlaps(dinf, hyd_b, distinct=False))
    facts["hyd_overlap"] = enc.isin(dh.index)
    facts["hyd_conc_ev"] = dh["ev_x"] + " | " + dh["ev_y"]
    facts["hyd_conc_text"] = (dh["ev_x"] + " overlapped only hydration " + dh["ev_y"] + " ("
                              + dh["minutes"].astype(str) + " min)")

    # Bags: several drugs in one; one drug in several.
    drug_admin = a["drug_class"].isin(list(DRUG_CLASSES))
    mixed = a[drug_admin & a["drug_label"].astype(str).str.contains("+", regex=False)]
    facts["mixed_bag"] = enc.isin(mixed["encounter_id"])
    facts["mixed_ev"] = join_unique(mixed, ["encounter_id"], "ev", " | ")
    multi = a[(a["kind"] == "infusion") & a["infusates"].astype(str).str.contains(",", regex=False)]
    facts["same_drug_bags"] = enc.isin(multi["encounter_id"])
    facts["same_drug_ev"] = join_unique(multi, ["encounter_id"], "ev", " | ")

    # Infusions of 15 active minutes or less (a push / injection, R-C2).
    short = a[a["has_blocks"].astype(bool) & drug_admin & a["kind"].isin(["push", "injection"])]
    family = np.select([short["kind"] == "injection", short["drug_class"] == "chemo"], ["sc", "chemo"], "ther")
    short = short.assign(family=family)
    for fam in INFUSION_FAMILIES:
        part = short[short["family"] == fam]
        facts[f"short_{fam}"] = enc.isin(part["encounter_id"])
        facts[f"short_{fam}_ev"] = join_unique(part, ["encounter_id"], "ev", " | ")

    # Hydration minutes: on the clock, and free of any other infusion.
    facts = facts.join(_hydration_minutes(b))
    facts["hyd_ev"] = join_unique(a[a["kind"] == "hydration"], ["encounter_id"], "ev", " | ")

    # A push of the same drug 30 minutes or less after the previous one (R-F2).
    pushes = a[(a["kind"] == "push") & drug_admin].sort_values(
        ["encounter_id", "grp", "service_key", "start", "admin_id"], kind="mergesort")
    g = pushes.groupby(["encounter_id", "grp", "service_key"], sort=False)
    gap = (pushes["start"] - g["start"].shift()).dt.total_seconds() / 60
    fast = pushes.assign(gap=gap, prev_ev=g["ev"].shift())[gap.le(REPEAT_PUSH_MINUTES)]
    fast = fast.drop_duplicates("encounter_id").set_index("encounter_id")
    facts["fast_repeat"] = enc.isin(fast.index)
    facts["fast_ev"] = fast["prev_ev"] + " | " + fast["ev"]
    facts["fast_text"] = (fast["prev_ev"] + " and " + fast["ev"] + " are "
                          + fast["gap"].astype("int64").astype(str) + " min apart")

    facts["sites"] = join_unique(a[a["site"] != ""], ["encounter_id"], "site", ", ", sort=True)
    facts["all_ev"] = join_unique(a[a["kind"] != "none"], ["encounter_id"], "ev", " | ")
    facts[["hyd_clock", "hyd_free"]] = facts[["hyd_clock", "hyd_free"]].fillna(0).astype("int64")
    return facts


def _summary(lines: pd.DataFrame, units: str) -> pd.Series:
    """``96365x1, 96368x1`` per encounter, codes sorted."""
    if lines.empty:
        return pd.Series(dtype=object)
    s = lines.sort_values("hcpcs")
    return (s["hcpcs"] + "x" + s[units].astype(str)).groupby(s["encounter_id"]).agg(", ".join)


def compare(
    expected: pd.DataFrame,
    billed: pd.DataFrame,
    admins: pd.DataFrame,
    hydration: pd.DataFrame,
    missing_stops: pd.DataFrame,
    blocks: pd.DataFrame | None = None,
    *,
    setting: str = "facility",
    min_overlap_minutes: int = 16,
    fees: FeeSchedule | None = None,
) -> pd.DataFrame:
    """Findings for every difference between expected and billed lines.

    Args:
        expected: expected lines (contract ``expected_codes`` columns).
        billed: billed claim lines (canonical); lines outside the
            drug-administration range are ignored.
        admins: administrations with ``role`` and ``site_group`` (from the
            coding step) and ``evidence`` (local times).
        hydration: creditable hydration minutes per encounter
            (``hydration_minutes``, runs of >= 31 minutes under the policy).
        missing_stops: infusates with no stop time (timeline step).
        blocks: the timeline's running intervals (``Timeline.blocks``), for
            exact overlap minutes with pauses excluded; ``None`` uses each
            administration's start-end.
        setting: ``facility`` or ``professional``, written on every row and
            used to price it.
        min_overlap_minutes: minutes two drug infusates must overlap on one
            site to be concurrent (policy ``concurrent_min_overlap_minutes``).
        fees: fee schedule for ``dollar_impact`` (NaN without one).

    Returns:
        :data:`FINDING_OUTPUT_COLUMNS` (contract ``findings`` columns first), sorted
        by encounter, code and key; one row per (encounter, code) difference
        plus documentation rows.
    """
    billed = billed[billed["hcpcs"].map(is_drug_admin_code).astype(bool)]
    exp = expected.groupby(["encounter_id", "hcpcs"]).agg(expected_units=("units", "sum"))
    exp["evidence"] = join_unique(expected, ["encounter_id", "hcpcs"], "evidence", " | ")
    exp = exp.reset_index()
    bil = billed.groupby(["encounter_id", "hcpcs"], as_index=False).agg(
        billed_units=("units", "sum"), claim_id=("claim_id", "first"), n_lines=("units", "size")
    )
    m = exp.merge(bil, on=["encounter_id", "hcpcs"], how="outer")
    m["expected_units"] = m["expected_units"].fillna(0).astype("int64")
    m["billed_units"] = m["billed_units"].fillna(0).astype("int64")
    m["n_lines"] = m["n_lines"].fillna(0).astype("int64")
    claim_of = billed.groupby("encounter_id")["claim_id"].first()
    m["claim_id"] = m["claim_id"].fillna(m["encounter_id"].map(claim_of))
    # A line with no expected counterpart is explained by the whole timeline.
    timeline_text = admins.groupby("encounter_id")["evidence"].agg(" | ".join) if "evidence" in admins else None
    m["evidence"] = m["evidence"].fillna(m["encounter_id"].map(timeline_text) if timeline_text is not None else "")
    m["evidence"] = m["evidence"].fillna("")

    # The concurrent code is "once": two lines of one unit each are also twice.
    twice = (m["hcpcs"] == CONCURRENT) & (m["n_lines"] > 1) & (m["expected_units"] >= 1)
    m["twice"] = twice
    m["over"] = m["billed_units"] > m["expected_units"]
    m["under"] = m["billed_units"] < m["expected_units"]
    diff = m[(m["expected_units"] != m["billed_units"]) | twice].copy().reset_index(drop=True)

    facts = _facts(admins, blocks, min_overlap_minutes)
    f = facts.reindex(diff["encounter_id"]).reset_index(drop=True)
    flags = [c for c in facts.columns if facts[c].dtype == bool]
    f[flags] = f[flags].fillna(False).astype(bool)
    f[["hyd_clock", "hyd_free"]] = f[["hyd_clock", "hyd_free"]].fillna(0).astype("int64")
    credited = hydration.set_index("encounter_id")["hydration_minutes"] if not hydration.empty else pd.Series(
        dtype=float)
    e = diff["encounter_id"]
    hyd_credited = e.map(credited).fillna(0)

    init_exp = m[m["hcpcs"].isin(INITIAL_CODES) & (m["expected_units"] > 0)]
    init_bil = m[m["hcpcs"].isin(INITIAL_CODES) & (m["billed_units"] > 0)]
    exp_init_set = join_unique(init_exp, ["encounter_id"], "hcpcs", ",", sort=True)
    bil_init_set = join_unique(init_bil, ["encounter_id"], "hcpcs", ",", sort=True)
    exp_init_units = init_exp.groupby("encounter_id")["expected_units"].sum()
    bil_init_units = init_bil.groupby("encounter_id")["billed_units"].sum()
    has_exp_init = e.map(exp_init_set).fillna("").ne("")
    mods = (expected["modifiers"].fillna("").astype(str) if "modifiers" in expected
            else pd.Series("", index=expected.index, dtype=object))
    second_site = e.isin(expected.loc[expected["hcpcs"].isin(INITIAL_CODES) & mods.str.contains("XU"), "encounter_id"])
    init_same_family = e.map(exp_init_set).fillna("") == e.map(bil_init_set).fillna("")
    extra_initial = e.map(bil_init_units).fillna(0) > e.map(exp_init_units).fillna(0)
    all_expected_initials_billed = (init_exp["billed_units"] > 0).groupby(init_exp["encounter_id"]).all()
    exp_any = e.map(m.groupby("encounter_id")["expected_units"].sum()).fillna(0) > 0
    bil_any = e.map(m.groupby("encounter_id")["billed_units"].sum()).fillna(0) > 0

    h = diff["hcpcs"]
    twice = diff["twice"]
    over = diff["over"]
    under = diff["under"]
    conc = h == CONCURRENT
    initial = h.isin(INITIAL_CODES)
    seq = h.isin(SEQUENTIAL_CODES)
    hours = h.isin(ADD_ON_HOUR_CODES)
    hyd = h.isin(HYDRATION_CODES)

    # An infusion code billed for a <= 15 minute administration, and the push
    # / injection code it displaced, in the same family.
    under16 = pd.Series(False, index=diff.index)
    under16_ev = pd.Series("", index=diff.index, dtype=object)
    for fam, (inf_codes, short_codes) in INFUSION_FAMILIES.items():
        inf_over = e.isin(m.loc[m["hcpcs"].isin(inf_codes) & m["over"], "encounter_id"])
        short_under = e.isin(m.loc[m["hcpcs"].isin(short_codes) & m["under"], "encounter_id"])
        hit = f[f"short_{fam}"] & (
            (h.isin(inf_codes) & over & short_under) | (h.isin(short_codes) & under & inf_over))
        under16 |= hit
        under16_ev = under16_ev.mask(hit, f[f"short_{fam}_ev"])

    rules = [
        (exp_any & ~bil_any, "administration_not_billed"),
        (~exp_any & bil_any & ~e.isin(admins["encounter_id"]), "no_administration_charted"),
        (conc & (over | twice) & (diff["expected_units"] >= 1), "concurrent_billed_twice"),
        (conc & over & f["diff_site_overlap"] & ~f["same_site_overlap"], "concurrent_different_sites"),
        (conc & over & f["mixed_bag"], "concurrent_mixed_bag"),
        (conc & over & f["hyd_overlap"] & ~f["same_site_overlap"], "concurrent_with_hydration"),
        (conc & over & ~f["same_site_overlap"], "concurrent_no_overlap"),
        (conc & over, "concurrent_not_supported"),
        (conc & under, "concurrent_missed"),
        (under16, "infusion_under_16_minutes"),
        (hyd & over & (f["hyd_clock"] > f["hyd_free"]) & (f["hyd_clock"] >= HYDRATION_FIRST) & init_same_family,
         "hydration_during_drug"),
        (hyd & over & (hyd_credited < HYDRATION_FIRST), "hydration_under_31_minutes"),
        (initial & over & extra_initial & has_exp_init & init_same_family, "second_initial_without_second_site"),
        (initial & extra_initial & e.map(all_expected_initials_billed).fillna(False).astype(bool),
         "second_initial_without_second_site"),
        (initial & under & init_same_family & second_site, "second_initial_missed"),
        (initial & ~init_same_family & (has_exp_init | under), "initial_wrong_family"),
        (seq & over & f["same_drug_bags"], "sequential_same_drug"),
        (seq & over, "sequential_not_supported"),
        (seq & under, "sequential_missed"),
        (hours & over, "additional_hours_overcounted"),
        (hours & under, "additional_hours_undercounted"),
        ((h == REPEAT_PUSH) & over & f["fast_repeat"], "repeat_push_within_30_minutes"),
        ((h == REPEAT_PUSH) & over, "repeat_push_not_supported"),
        (h.isin(PUSH_CODES) & over, "push_not_supported"),
        (h.isin(PUSH_CODES | {REPEAT_PUSH}) & under, "push_missed"),
        (over, "code_not_supported"),
    ]
    diff["finding"] = np.select([c.to_numpy() for c, _ in rules], [k for _, k in rules], default="code_missed")

    # The MAR administrations behind the key, and a sentence about them.
    k = diff["finding"]
    none = pd.Series("", index=diff.index, dtype=object)
    specific: dict[str, tuple[pd.Series, pd.Series]] = {
        "concurrent_different_sites": (f["diff_site_ev"], f["diff_site_text"] + ": two initial services, not 96368"),
        "concurrent_mixed_bag": (f["mixed_ev"], "mixed in one bag: " + f["mixed_ev"].fillna("")),
        "concurrent_with_hydration": (f["hyd_conc_ev"], f["hyd_conc_text"] + "; hydration never earns 96368"),
        "concurrent_no_overlap": (
            f["drug_inf_ev"],
            f"no two separate drug infusates overlapped {min_overlap_minutes} min or more on one access site; "
            "drug infusions: " + f["drug_inf_ev"].fillna("none")),
        "infusion_under_16_minutes": (under16_ev, under16_ev + " ran 15 active minutes or less: a push or injection"),
        "sequential_same_drug": (f["same_drug_ev"], f["same_drug_ev"].fillna("")
                                 + " is one drug in several bags, one continuing service"),
        "hydration_during_drug": (
            f["hyd_ev"], "hydration " + f["hyd_ev"].fillna("") + " ran " + f["hyd_clock"].astype("int64").astype(str)
            + " min, of which " + (f["hyd_clock"] - f["hyd_free"]).astype("int64").astype(str)
            + " min while another infusion ran; creditable " + hyd_credited.astype("int64").astype(str) + " min"),
        "hydration_under_31_minutes": (
            f["hyd_ev"], "hydration " + f["hyd_ev"].fillna("none charted") + " has "
            + hyd_credited.astype("int64").astype(str) + " creditable min ("
            + f["hyd_free"].astype("int64").astype(str) + " min with no other infusion)"),
        "repeat_push_within_30_minutes": (f["fast_ev"], f["fast_text"] + ", 30 min or less"),
        "second_initial_missed": (
            diff["evidence"], "separate access sites in use at the same time (sites charted: "
            + f["sites"].fillna("none") + "); " + diff["evidence"]),
        "second_initial_without_second_site": (
            f["all_ev"], "only one access site was in use at a time (sites charted: "
            + f["sites"].fillna("none") + "); administrations: " + f["all_ev"].fillna("")),
    }
    ev = diff["evidence"].astype(object)
    detail = "Evidence: " + diff["evidence"].astype(str)
    for key, (ev_k, text_k) in specific.items():
        sel = (k == key) & ev_k.notna() & (ev_k.astype(str) != "")
        ev = ev.mask(sel, ev_k)
        detail = detail.mask(sel, text_k.astype(str).str[0].str.upper() + text_k.astype(str).str[1:])
    detail = detail.mask(diff["evidence"].astype(str).eq("") & detail.str.startswith("Evidence: "), none)
    diff["evidence"] = ev.fillna("")
    diff["explanation"] = _explain(diff, detail, e.map(_summary(m[m["expected_units"] > 0], "expected_units")),
                                   e.map(_summary(m[m["billed_units"] > 0], "billed_units")))

    doc = _documentation_findings(admins, missing_stops, claim_of)
    findings = pd.concat([diff, doc], ignore_index=True)
    findings["setting"] = setting
    findings = annotate(findings, fees)
    return findings.sort_values(["encounter_id", "hcpcs", "finding"], kind="mergesort").reset_index(drop=True)


def _explain(diff: pd.DataFrame, detail: pd.Series, expected_summary: pd.Series,
             billed_summary: pd.Series) -> pd.Series:
    """One sentence a coder can act on: the rule, the units, the MAR facts."""
    meaning = diff["finding"].map(MEANING)
    head = (
        meaning.str[0].str.upper() + meaning.str[1:] + ": " + diff["hcpcs"] + " billed "
        + diff["billed_units"].astype(str) + ", supported " + diff["expected_units"].astype(str) + "."
    )
    tail = " MAR supports " + expected_summary.fillna("nothing").astype(str) + "; billed " + billed_summary.fillna(
        "nothing").astype(str) + "."
    body = np.where(detail != "", " " + detail.astype(str) + ".", "")
    return head + body + tail


def _documentation_findings(admins: pd.DataFrame, missing_stops: pd.DataFrame, claim_of: pd.Series) -> pd.DataFrame:
    """Findings about the charting itself: no stop time, unknown drug."""
    unknown = admins[admins["drug_class"] == "unknown"]
    unk = pd.DataFrame(
        {
            "encounter_id": unknown["encounter_id"],
            "hcpcs": "",
            "billed_units": 0,
            "expected_units": 0,
            "finding": "drug_not_classified",
            "explanation": "Drug '" + unknown["drug_label"].astype(str).str.lstrip("?")
            + "' is not in the drug reference and was not coded; add it to the reference or set drug_class on the MAR.",
            "evidence": unknown["evidence"] if "evidence" in unknown else "",
        }
    )
    ms = missing_stops
    # The administration the open infusate belongs to (its drug, local times).
    bags = admins[["encounter_id", "infusates"]].assign(
        infusate_id=admins["infusates"].astype(str).str.split(","),
        ev=admins["evidence"].astype(str) if "evidence" in admins else admins["drug_label"].astype(str),
    ).explode("infusate_id").drop_duplicates(["encounter_id", "infusate_id"])
    where = ms[["encounter_id", "infusate_id"]].astype({"infusate_id": str}).merge(
        bags[["encounter_id", "infusate_id", "ev"]], on=["encounter_id", "infusate_id"], how="left")["ev"]
    started = "infusate " + ms["infusate_id"].astype(str) + " started " + ms["start"].dt.strftime("%Y-%m-%dT%H:%MZ")
    about = pd.Series(where.to_numpy(), index=ms.index).fillna(started)
    stop = pd.DataFrame(
        {
            "encounter_id": ms["encounter_id"],
            "hcpcs": "",
            "billed_units": 0,
            "expected_units": 0,
            "finding": "missing_stop_time",
            "explanation": "Infusate " + ms["infusate_id"].astype(str) + " started "
            + ms["start"].dt.strftime("%Y-%m-%dT%H:%MZ") + " has no stop time; policy resolved it as "
            + ms["resolution"].astype(str) + " (coded as: " + about + "); chart the stop time.",
            "evidence": about,
        }
    )
    doc = pd.concat([unk, stop], ignore_index=True)
    doc["claim_id"] = doc["encounter_id"].map(claim_of)
    doc["direction"] = DOCUMENTATION
    return doc
