"""Expected vs billed drug-administration lines -> findings.

Lines are compared per encounter and code (units summed over the encounter's
dates), for the codes 96360-96379 and 96401-96549 only; every other billed
line (E/M, drug J-codes, ...) is ignored. Each difference becomes one finding
whose ``finding`` key comes from :data:`FINDING_KEYS`, chosen from what the
timeline shows (a mixed bag, the same drug in several bags, hydration
overlapping a drug, the hierarchy). Charting problems (missing stop times,
unclassified drugs) are findings too, with both unit columns 0.

An encounter whose billed lines equal the expected ones produces no finding
(unless its charting has a problem).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.coding import (
    ADD_ON_HOUR_CODES,
    CONCURRENT_CODE,
    HYDRATION_CODES,
    INITIAL_CODES,
    SEQUENTIAL_CODES,
)
from transforms.frames import join_unique
from transforms.schemas import FINDING_COLUMNS, is_drug_admin_code

OVER = "over_billed"
UNDER = "under_billed"
DOCUMENTATION = "documentation"

# The stable vocabulary of finding keys: key -> (direction, meaning).
FINDING_KEYS: dict[str, tuple[str, str]] = {
    "concurrent_billed_twice": (OVER, "96368 billed more than once for one encounter"),
    "concurrent_mixed_bag": (OVER, "96368 billed although the drugs were mixed in one bag"),
    "concurrent_not_supported": (OVER, "96368 billed but no two separate infusates overlapped long enough on one access"),
    "concurrent_missed": (UNDER, "two separate infusates overlapped on one access but 96368 was not billed"),
    "sequential_same_drug": (OVER, "96367/96417 billed for a new bag of the same drug (its time belongs on the additional-hour code)"),
    "sequential_not_supported": (OVER, "96367/96417 billed without a sequential infusion of a new drug"),
    "sequential_missed": (UNDER, "a sequential infusion of a new drug was not billed"),
    "initial_wrong_family": (OVER, "initial code does not follow the hierarchy (chemo > therapeutic > hydration, infusion > push)"),
    "second_initial_without_second_site": (OVER, "a second initial code without a second access site in use at the same time"),
    "hydration_during_drug": (OVER, "hydration billed for minutes when a drug was running"),
    "hydration_under_31_minutes": (OVER, "hydration billed with fewer than 31 creditable minutes"),
    "additional_hours_overcounted": (OVER, "more additional-hour units than the active minutes support"),
    "additional_hours_undercounted": (UNDER, "fewer additional-hour units than the active minutes support"),
    "repeat_push_not_supported": (OVER, "96376 billed without a repeat push of the same drug more than 30 minutes later"),
    "push_not_supported": (OVER, "push code billed without a supporting push"),
    "push_missed": (UNDER, "a push charted on the MAR was not billed"),
    "code_not_supported": (OVER, "code billed but not supported by the MAR"),
    "code_missed": (UNDER, "code supported by the MAR but not billed"),
    "administration_not_billed": (UNDER, "administrations charted but no drug-administration line billed"),
    "no_administration_charted": (OVER, "drug-administration lines billed but nothing charted on the MAR"),
    "professional_in_facility_pos": (OVER, "physician claim bills drug administration in a facility place of service"),
    "facility_only_code_on_professional": (OVER, "a facility-only code (96376) billed on a physician claim"),
    "missing_stop_time": (DOCUMENTATION, "an infusion was started but no stop time was charted"),
    "drug_not_classified": (DOCUMENTATION, "a charted drug is not in the drug reference, so it was not coded"),
}

DIRECTION: dict[str, str] = {k: v[0] for k, v in FINDING_KEYS.items()}
MEANING: dict[str, str] = {k: v[1] for k, v in FINDING_KEYS.items()}
PUSH_CODES: frozenset[str] = frozenset({"96375", "96411"})


def _context(admins: pd.DataFrame, hydration: pd.DataFrame) -> pd.DataFrame:
    """Per-encounter facts that decide a finding's key."""
    drug = admins["drug_class"].isin(["chemo", "therapeutic"])
    hyd_clock = admins[admins["kind"] == "hydration"].groupby("encounter_id")["minutes"].sum()
    ctx = pd.DataFrame(
        {
            "mixed_bag": (drug & (admins["n_components"] >= 2)).groupby(admins["encounter_id"]).any(),
            "same_drug_bags": (
                (admins["kind"] == "infusion") & admins["infusates"].astype(str).str.contains(",")
            ).groupby(admins["encounter_id"]).any(),
        }
    )
    ctx["hydration_clock"] = hyd_clock.reindex(ctx.index).fillna(0)
    credited = hydration.set_index("encounter_id")["hydration_minutes"] if not hydration.empty else pd.Series(dtype=float)
    ctx["hydration_credited"] = credited.reindex(ctx.index).fillna(0)
    ctx["hydration_overlap"] = ctx["hydration_clock"] > ctx["hydration_credited"]
    return ctx


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
) -> pd.DataFrame:
    """Findings for every difference between expected and billed lines.

    Args:
        expected: expected lines (contract ``expected_codes`` columns).
        billed: billed drug-administration claim lines (kept, canonical).
        admins: administrations with ``role`` (from the coding step).
        hydration: creditable hydration minutes per encounter.
        missing_stops: infusates with no stop time (timeline step).

    Returns:
        Contract ``findings`` columns plus ``direction``, ``setting`` and
        ``evidence``; sorted by encounter and code, one row per difference.
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
    twice = (m["hcpcs"] == CONCURRENT_CODE) & (m["n_lines"] > 1) & (m["expected_units"] >= 1)
    m["twice"] = twice
    diff = m[(m["expected_units"] != m["billed_units"]) | twice].copy()

    ctx = _context(admins, hydration).reindex(diff["encounter_id"]).reset_index(drop=True)
    ctx = ctx.fillna({"mixed_bag": False, "same_drug_bags": False, "hydration_overlap": False,
                      "hydration_credited": 0, "hydration_clock": 0})
    diff = diff.reset_index(drop=True)
    init_exp = m[m["hcpcs"].isin(INITIAL_CODES) & (m["expected_units"] > 0)]
    init_bil = m[m["hcpcs"].isin(INITIAL_CODES) & (m["billed_units"] > 0)]
    exp_init_set = join_unique(init_exp, ["encounter_id"], "hcpcs", ",", sort=True)
    bil_init_set = join_unique(init_bil, ["encounter_id"], "hcpcs", ",", sort=True)
    exp_init_units = init_exp.groupby("encounter_id")["expected_units"].sum()
    bil_init_units = init_bil.groupby("encounter_id")["billed_units"].sum()
    e = diff["encounter_id"]
    init_same_family = e.map(exp_init_set).fillna("") == e.map(bil_init_set).fillna("")
    extra_initial = e.map(bil_init_units).fillna(0) > e.map(exp_init_units).fillna(0)
    all_expected_initials_billed = (init_exp["billed_units"] > 0).groupby(init_exp["encounter_id"]).all()
    exp_any = e.map(m.groupby("encounter_id")["expected_units"].sum()).fillna(0) > 0
    bil_any = e.map(m.groupby("encounter_id")["billed_units"].sum()).fillna(0) > 0

    h = diff["hcpcs"]
    twice = diff["twice"]
    over = diff["billed_units"] > diff["expected_units"]
    under = diff["billed_units"] < diff["expected_units"]
    conc = h == CONCURRENT_CODE
    initial = h.isin(INITIAL_CODES)
    seq = h.isin(SEQUENTIAL_CODES)
    hours = h.isin(ADD_ON_HOUR_CODES)
    hyd = h.isin(HYDRATION_CODES)
    rules = [
        (exp_any & ~bil_any, "administration_not_billed"),
        (~exp_any & bil_any & ~diff["encounter_id"].isin(admins["encounter_id"]), "no_administration_charted"),
        (conc & (over | twice) & (diff["expected_units"] >= 1), "concurrent_billed_twice"),
        (conc & over & ctx["mixed_bag"], "concurrent_mixed_bag"),
        (conc & over, "concurrent_not_supported"),
        (conc & under, "concurrent_missed"),
        (hyd & over & ctx["hydration_overlap"] & init_same_family, "hydration_during_drug"),
        (initial & over & extra_initial & e.map(exp_init_set).fillna("").ne("") & init_same_family,
         "second_initial_without_second_site"),
        (initial & extra_initial & e.map(all_expected_initials_billed).fillna(False).astype(bool),
         "second_initial_without_second_site"),
        (initial & ~init_same_family, "initial_wrong_family"),
        (hyd & over & (ctx["hydration_credited"] < 31), "hydration_under_31_minutes"),
        (seq & over & ctx["same_drug_bags"], "sequential_same_drug"),
        (seq & over, "sequential_not_supported"),
        (seq & under, "sequential_missed"),
        (hours & over, "additional_hours_overcounted"),
        (hours & under, "additional_hours_undercounted"),
        ((h == "96376") & over, "repeat_push_not_supported"),
        (h.isin(PUSH_CODES) & over, "push_not_supported"),
        (h.isin(PUSH_CODES | {"96376"}) & under, "push_missed"),
        (over, "code_not_supported"),
    ]
    diff["finding"] = np.select([c.to_numpy() for c, _ in rules], [k for _, k in rules], default="code_missed")
    diff["direction"] = diff["finding"].map(DIRECTION)
    diff["explanation"] = _explain(diff, e.map(_summary(m[m["expected_units"] > 0], "expected_units")),
                                   e.map(_summary(m[m["billed_units"] > 0], "billed_units")))

    doc = _documentation_findings(admins, missing_stops, claim_of)
    findings = pd.concat([diff, doc], ignore_index=True)
    findings["setting"] = "facility"
    cols = list(FINDING_COLUMNS) + ["direction", "setting", "evidence"]
    findings["claim_id"] = findings["claim_id"].astype(object)
    return findings[cols].sort_values(["encounter_id", "hcpcs", "finding"], kind="mergesort").reset_index(drop=True)


def _explain(diff: pd.DataFrame, expected_summary: pd.Series, billed_summary: pd.Series) -> pd.Series:
    """One sentence a coder can act on, with the MAR evidence."""
    meaning = diff["finding"].map(MEANING)
    head = (
        meaning.str[0].str.upper() + meaning.str[1:] + ": " + diff["hcpcs"] + " billed "
        + diff["billed_units"].astype(str) + ", supported " + diff["expected_units"].astype(str) + "."
    )
    tail = " MAR supports " + expected_summary.fillna("nothing").astype(str) + "; billed " + billed_summary.fillna(
        "nothing").astype(str) + "."
    ev = diff["evidence"].astype(str)
    return head + tail + np.where(ev != "", " Evidence: " + ev, "")


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
    stop = pd.DataFrame(
        {
            "encounter_id": ms["encounter_id"],
            "hcpcs": "",
            "billed_units": 0,
            "expected_units": 0,
            "finding": "missing_stop_time",
            "explanation": "Infusate " + ms["infusate_id"].astype(str) + " started "
            + ms["start"].dt.strftime("%Y-%m-%dT%H:%MZ") + " has no stop time; policy resolved it as "
            + ms["resolution"].astype(str) + ".",
            "evidence": "infusate " + ms["infusate_id"].astype(str),
        }
    )
    doc = pd.concat([unk, stop], ignore_index=True)
    doc["claim_id"] = doc["encounter_id"].map(claim_of)
    doc["direction"] = DOCUMENTATION
    return doc
