"""Canonical MAR events -> FHIR R4 MedicationAdministration NDJSON (synthetic data).

Writes the events :func:`transforms.synthetic.generator.generate` makes as a
Bulk Data style NDJSON file that
:func:`transforms.ingest.adapters.fhir.read_fhir` maps back onto events the
audit codes identically. One infusate (``encounter_id`` + ``infusate_id``,
the infusate defaulting to the order) becomes:

* a push or injection (only ``given`` events): one resource per ``given``
  with ``effectiveDateTime``; a ``given`` on an infusion route is written
  with method text "IV piggyback infusion" so it reads back as an infusion
  without a stop;
* a bag or pump: one resource per RUNNING segment (from a ``start`` /
  ``resume`` / ``rate_change`` to the next event of the infusate) with an
  ``effectivePeriod`` and the segment's rate; a pause leaves a gap between
  two resources, a rate change makes two contiguous ones. All resources of
  one infusate share the ``request`` (``MedicationRequest/<order_id>``) and
  the later ones name the first in ``partOf``, so they read back as ONE
  infusate (same ``infusate_id``: the KVO and bag-volume rules see the whole
  bag). A last segment without a following event is ``in-progress`` with no
  ``end``. Zero-length segments (a rate change charted at the minute of the
  start) are dropped: they run no minute.

The drug: one drug without a bag volume -> ``medicationCodeableConcept``
text and ``dosage.dose``; otherwise a contained Medication with one
ingredient per drug (a mixed bag: several), its dose as the ingredient's
``strength`` numerator and the bag volume as ``amount`` (mL).

Rows that are not valid canonical events (the generator's deliberately
malformed rows: unknown route, unparseable time, missing encounter) are
written as they are, so the reader leaves them unmapped or validation
quarantines them, as it would the canonical CSV rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
#: Canonical route -> (SNOMED CT route code, display, dosage.method text or None).
ROUTE_CODING: dict[str, tuple[str, str, str | None]] = {
    "iv_infusion": ("47625008", "Intravenous route", None),
    "iv_push": ("47625008", "Intravenous route", "IV push"),
    "sc_infusion": ("34206005", "Subcutaneous route", None),
    "sc_injection": ("34206005", "Subcutaneous route", None),
    "im_injection": ("78421000", "Intramuscular route", None),
    "intra_arterial": ("58100008", "Intra-arterial route", None),
    "pump": ("47625008", "Intravenous route", "ambulatory infusion pump"),
}
_INFUSION_ROUTES = frozenset({"iv_infusion", "sc_infusion", "pump", "intra_arterial"})
_ACTION_ORDER = {"stop": 0, "pause": 1, "start": 2, "resume": 3, "rate_change": 4, "given": 5}
_ID_CHARS = re.compile(r"[^A-Za-z0-9.\-]")


def _fhir_id(*parts: object) -> str:
    """A valid FHIR id (``[A-Za-z0-9.-]{1,64}``) from ``parts``; hashed when too long."""
    raw = _ID_CHARS.sub("-", ".".join(str(p) for p in parts))
    return raw if len(raw) <= 64 else hashlib.sha1(raw.encode()).hexdigest()


def _time_text(value: object, tz: str | None) -> str | None:
    """ISO-8601 with offset (facility zone when ``tz``, else UTC); unparseable text as is."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        return str(value)
    if stamp.tzinfo is None:
        return str(value)  # local wall time: not a FHIR dateTime, left for the reader to reject
    return (stamp.tz_convert(tz) if tz else stamp.tz_convert("UTC")).isoformat()


def _present(value: object) -> bool:
    return value is not None and not (not isinstance(value, str) and pd.isna(value))


def _drugs(events: pd.DataFrame) -> list[dict[str, Any]]:
    """Each drug of the infusate once, with dose / unit / volume of its first start or given row."""
    first = events[events["action"].isin(["start", "given"])]
    first = first if len(first) else events
    out = []
    for drug, rows in first.groupby("drug", sort=False, dropna=False):
        row = rows.iloc[0]
        out.append({"drug": drug, "dose": row.get("dose"), "dose_unit": row.get("dose_unit"),
                    "volume_ml": row.get("volume_ml")})
    return out


def _medication(resource: dict[str, Any], drugs: list[dict[str, Any]]) -> None:
    """Set the medication: a CodeableConcept, or a contained Medication (bag / mixed bag)."""
    volume = next((d["volume_ml"] for d in drugs if _present(d["volume_ml"])), None)
    if len(drugs) == 1 and volume is None:
        resource["medicationCodeableConcept"] = {"text": str(drugs[0]["drug"])}
        if _present(drugs[0]["dose"]):
            resource["dosage"]["dose"] = {"value": float(drugs[0]["dose"]), "unit": drugs[0]["dose_unit"]}
        return
    ingredients = []
    for d in drugs:
        ing: dict[str, Any] = {"itemCodeableConcept": {"text": str(d["drug"])}}
        if _present(d["dose"]):
            ing["strength"] = {"numerator": {"value": float(d["dose"]), "unit": d["dose_unit"]},
                               "denominator": {"value": 1}}
        ingredients.append(ing)
    med: dict[str, Any] = {"resourceType": "Medication", "id": "bag", "ingredient": ingredients}
    if volume is not None:
        med["amount"] = {"numerator": {"value": float(volume), "unit": "mL", "system": UCUM, "code": "mL"},
                         "denominator": {"value": 1}}
    resource["contained"] = [med]
    resource["medicationReference"] = {"reference": "#bag"}


def _base(head: pd.Series, rid: str, route: str) -> dict[str, Any]:
    """Resource skeleton: ids, subject, context, request, route, method and site."""
    resource: dict[str, Any] = {"resourceType": "MedicationAdministration", "id": rid, "status": "completed"}
    if _present(head["patient_id"]):
        resource["subject"] = {"reference": f"Patient/{head['patient_id']}"}
    if _present(head["encounter_id"]):
        resource["context"] = {"reference": f"Encounter/{head['encounter_id']}"}
    if _present(head["order_id"]):
        resource["request"] = {"reference": f"MedicationRequest/{head['order_id']}"}
    coding = ROUTE_CODING.get(str(route))
    if coding is None:
        dosage: dict[str, Any] = {"route": {"text": str(route)}}
    else:
        dosage = {"route": {"coding": [{"system": SNOMED, "code": coding[0], "display": coding[1]}]}}
        if coding[2]:
            dosage["method"] = {"text": coding[2]}
    if _present(head.get("access_site")):
        dosage["site"] = {"text": str(head["access_site"])}
    resource["dosage"] = dosage
    return resource


def _given_resources(events: pd.DataFrame, key: str, tz: str | None) -> list[dict[str, Any]]:
    """One resource per ``given`` time of a push / injection (or an infusion without stop)."""
    out = []
    drugs = _drugs(events)
    for n, (when, rows) in enumerate(events.groupby("event_time", sort=False, dropna=False), start=1):
        head = rows.iloc[0]
        route = head["route"]
        res = _base(head, _fhir_id(key, n), route)
        if route in _INFUSION_ROUTES:
            res["dosage"]["method"] = {"text": "IV piggyback infusion"}
        res["effectiveDateTime"] = _time_text(when, tz)
        _medication(res, drugs)
        out.append(res)
    return out


def _segments(events: pd.DataFrame) -> list[tuple[object, object, float | None]]:
    """Running segments ``(start, end or None, rate)`` of one infusate, in time order.

    Running after start / resume / rate_change (not a rate change to 0),
    stopped after pause / stop; like the engine's timeline.
    """
    times = events.drop_duplicates(["event_time", "action"]).reset_index(drop=True)
    out = []
    for i, ev in times.iterrows():
        rate = ev.get("rate")
        running = ev["action"] in ("start", "resume", "rate_change")
        if ev["action"] == "rate_change" and _present(rate) and float(rate) <= 0:
            running = False
        if not running:
            continue
        end = times.loc[i + 1, "event_time"] if i + 1 < len(times) else None
        if end is not None and end == ev["event_time"]:
            continue  # zero-length: runs no minute
        out.append((ev["event_time"], end, float(rate) if _present(rate) else None))
    return out


def _infusion_resources(events: pd.DataFrame, key: str, tz: str | None) -> list[dict[str, Any]]:
    """One resource per running segment; later ones name the first in ``partOf``."""
    drugs = _drugs(events)
    head = events.iloc[0]
    out: list[dict[str, Any]] = []
    for n, (start, end, rate) in enumerate(_segments(events), start=1):
        res = _base(head, _fhir_id(key, n), head["route"])
        res["effectivePeriod"] = {"start": _time_text(start, tz)}
        if end is not None:
            res["effectivePeriod"]["end"] = _time_text(end, tz)
        else:
            res["status"] = "in-progress"
        if rate is not None:
            res["dosage"]["rateQuantity"] = {"value": rate, "unit": "mL/h", "system": UCUM, "code": "mL/h"}
        if out:
            res["partOf"] = [{"reference": f"MedicationAdministration/{out[0]['id']}"}]
        _medication(res, drugs)
        out.append(res)
    return out


def _sorted_events(mar: pd.DataFrame) -> pd.DataFrame:
    """Events with ``infusate_id`` defaulted to the order, by time then action order.

    Unparseable times (malformed rows) sort last and keep their text.
    """
    out = mar.copy()
    out["infusate_id"] = out["infusate_id"].where(out["infusate_id"].notna(), out["order_id"])
    parsed = pd.to_datetime(out["event_time"], errors="coerce", utc=True)
    out["_t"] = parsed
    out["_ord"] = out["action"].map(_ACTION_ORDER).fillna(9)
    out["_pos"] = range(len(out))
    return out.sort_values(["_t", "_ord", "_pos"], kind="mergesort", na_position="last")


def mar_to_fhir_ndjson(mar: pd.DataFrame, path: Path, *, facility_tz: str | None = None) -> Path:
    """Write canonical MAR events as FHIR R4 MedicationAdministration NDJSON.

    Args:
        mar: canonical MAR events (``schemas.MAR_COLUMNS``; ``event_time``
            tz-aware, or text for malformed rows), as ``generate(...).mar``.
        path: file to write (parent folders are created).
        facility_tz: IANA zone whose UTC offset the times are written in;
            ``None`` writes UTC (``+00:00``).

    Returns:
        ``path``. One resource per line, grouped by infusate in the order of
        their first event.

    Raises:
        ValueError: an infusate with start / stop events but no running
            segment (it could not be expressed as a period).
    """
    events = _sorted_events(mar)
    lines = []
    # sort=False: groups in order of their first event; dropna: a malformed
    # row without an encounter is still written (and later unmapped).
    for (enc, inf), group in events.groupby(["encounter_id", "infusate_id"], sort=False, dropna=False):
        key = _fhir_id("MA", enc, inf)
        if group["action"].eq("given").all():
            resources = _given_resources(group, key, facility_tz)
        else:
            resources = _infusion_resources(group, key, facility_tz)
            if not resources:
                raise ValueError("an infusate has start/stop events but never runs")
        lines += [json.dumps(r, separators=(",", ":")) for r in resources]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path
