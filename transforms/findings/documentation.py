"""Findings about the charting itself: no stop time, a drug not classified,
a MAR event the timeline could not use.

Invariants: direction ``documentation``; ``hcpcs`` empty and both unit
columns 0 (no line is compared); one row per unclassified administration,
per infusate without a stop time (whatever the policy resolved it to, D3)
and per unused MAR event (``Timeline.unused_events``) except a pump
disconnect whose pump was started elsewhere (R-H8), so an encounter whose
billing is right still gets them.
"""

from __future__ import annotations

import pandas as pd

from transforms.engine.timeline import PUMP_DISCONNECT_ISSUE
from transforms.vocab.classes import UNKNOWN
from transforms.vocab.findings import DOCUMENTATION

_UTC_MINUTE = "%Y-%m-%dT%H:%MZ"


def _not_classified(admins: pd.DataFrame) -> pd.DataFrame:
    """``drug_not_classified``: a drug the reference does not know (class ``unknown``)."""
    unknown = admins[admins["drug_class"] == UNKNOWN]
    return pd.DataFrame(
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


def _missing_stops(admins: pd.DataFrame, missing_stops: pd.DataFrame) -> pd.DataFrame:
    """``missing_stop_time``: an infusate started and never stopped, named by
    the administration it was coded as (its drug and local times)."""
    ms = missing_stops
    # Only the encounters with a missing stop need their bags spelled out.
    admins = admins[admins["encounter_id"].isin(ms["encounter_id"])]
    bags = admins[["encounter_id", "infusates"]].assign(
        infusate_id=admins["infusates"].astype(str).str.split(","),
        ev=admins["evidence"].astype(str) if "evidence" in admins else admins["drug_label"].astype(str),
    ).explode("infusate_id").drop_duplicates(["encounter_id", "infusate_id"])
    where = ms[["encounter_id", "infusate_id"]].astype({"infusate_id": str}).merge(
        bags[["encounter_id", "infusate_id", "ev"]], on=["encounter_id", "infusate_id"], how="left")["ev"]
    start_text = ms["start"].dt.strftime(_UTC_MINUTE)
    started = "infusate " + ms["infusate_id"].astype(str) + " started " + start_text
    about = pd.Series(where.to_numpy(), index=ms.index).fillna(started)
    return pd.DataFrame(
        {
            "encounter_id": ms["encounter_id"],
            "hcpcs": "",
            "billed_units": 0,
            "expected_units": 0,
            "finding": "missing_stop_time",
            "explanation": "Infusate " + ms["infusate_id"].astype(str) + " started "
            + start_text + " has no stop time; policy resolved it as "
            + ms["resolution"].astype(str) + " (coded as: " + about + "); chart the stop time.",
            "evidence": about,
        }
    )


def _unused_events(unused: pd.DataFrame) -> pd.DataFrame:
    """``mar_event_not_used``: one row per MAR event the timeline left out,
    naming its action, drug, infusate, UTC minute and why."""
    u = unused
    drug = u["drug_label"].fillna(u["infusate_id"]).astype(str).str.lstrip("?")
    when = u["event_time"].dt.strftime(_UTC_MINUTE)
    action = u["action"].astype(str).str.replace("_", " ")
    row = u["source_row"].astype("Int64").astype(str).replace("<NA>", "?")
    return pd.DataFrame(
        {
            "encounter_id": u["encounter_id"],
            "hcpcs": "",
            "billed_units": 0,
            "expected_units": 0,
            "finding": "mar_event_not_used",
            "explanation": "MAR " + action + " of " + drug + " (infusate " + u["infusate_id"].astype(str) + ") at "
            + when + " was not used: " + u["issue"].astype(str)
            + "; no minutes were counted from it, correct or complete the charting.",
            "evidence": drug + " [infusate " + u["infusate_id"].astype(str) + "] " + u["action"].astype(str) + " "
            + when + " (source row " + row + ")",
        }
    )


def documentation_findings(
    admins: pd.DataFrame, missing_stops: pd.DataFrame, claims: pd.Series, unused_events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Charting findings of ``admins`` and the timeline's ``missing_stops`` and ``unused_events``.

    Args:
        admins: administrations (``drug_class``, ``drug_label``,
            ``infusates``, ``evidence``).
        missing_stops: infusates with no stop time (timeline step).
        claims: claim id per encounter (:func:`transforms.findings.matching.claim_of`).
        unused_events: MAR events the timeline could not use
            (``Timeline.unused_events``); ``None`` means none.

    Returns:
        Unclassified drugs first, then missing stop times, then unused
        events; ``claim_id`` from ``claims`` (NaN when not billed),
        ``direction`` ``documentation``.
    """
    parts = [_not_classified(admins), _missing_stops(admins, missing_stops)]
    if unused_events is not None:
        # A pump disconnect with its start elsewhere is charted as it should
        # be: included in that pump start (R-H8), not a charting problem.
        unused_events = unused_events[unused_events["issue"] != PUMP_DISCONNECT_ISSUE]
    if unused_events is not None and not unused_events.empty:
        parts.append(_unused_events(unused_events))
    doc = pd.concat(parts, ignore_index=True)
    doc["claim_id"] = doc["encounter_id"].map(claims)
    doc["direction"] = DOCUMENTATION
    return doc
