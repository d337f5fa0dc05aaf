"""FHIR adapter: MedicationAdministration (R4, R4B, R5) -> canonical MAR events.

Inputs are files of FHIR JSON: NDJSON (one resource per line, as a Bulk Data
``$export`` writes it; ``.gz`` accepted), a Bundle (``entry[].resource``) or a
single resource. A folder is expanded by the caller. Every resource is
validated with ``fhir.resources`` and read through the model; the model is
chosen per resource, not per file, by which fields are present: R5
(``fhir.resources``) when it has an R5-only field (``occurence[x]``,
``encounter``, ``medication``...) and no R4 one, else R4B
(``fhir.resources.R4B``, which also reads R4: MedicationAdministration did not
change between them).

Records and provenance
    A record is an NDJSON line (``source_record`` = its 1-based line number;
    blank lines are not records), a Bundle entry (1-based entry number) or a
    single-resource file (record 1). ``source_file`` is the file name only.
    Every record gives at least one canonical row or exactly one ``unmapped``
    row with its reason and the record's text in ``original``; nothing is
    dropped: ``rows_in`` = records mapped (as rows) + records unmapped.

One resource -> rows

    ===================================  =====================================
    FHIR                                 canonical
    ===================================  =====================================
    ``effectivePeriod`` (R5              ``start`` at ``period.start``, and a
    ``occurencePeriod``): an infusion    ``stop`` at ``period.end`` when it is
                                         charted and the status is not
                                         ``in-progress``
    ``effectiveDateTime`` (R5            one ``given`` (push, injection)
    ``occurenceDateTime``)
    ``context`` (R5 ``encounter``)       ``encounter_id``: the id part
                                         (``Encounter/E1`` -> ``E1``); a
                                         reference with only an identifier
                                         gives the identifier's value
    ``subject``                          ``patient_id`` (same rule)
    ``request``                          ``order_id`` (id part); none -> the
                                         ``infusate_id``
    ``id`` / ``partOf``                  ``infusate_id``: the resource's own
                                         id, or the id of the
                                         MedicationAdministration named in
                                         ``partOf`` (a later piece of the same
                                         bag: after a pause or rate change).
                                         Different resources of one order are
                                         different bags; the engine's
                                         same-drug rules (R-D4) continue the
                                         service across them
    ``dosage.site``                      ``access_site``: text, else the first
                                         coding's display, else its code
    ``dosage.rateQuantity`` /            ``rate`` + ``rate_unit`` on the
    ``rateRatio``                        start row (the rate after the event);
                                         a ratio is per hour when its
                                         denominator is in h or min
                                         (``mL/h``)
    ``dosage.dose``                      ``volume_ml`` when in mL, else
                                         ``dose`` + ``dose_unit``
    medication                           ``drug``, see below
    times                                ISO-8601 text with the resource's
                                         UTC offset (``+00:00`` for ``Z``)
    ===================================  =====================================

    ``ndc`` is the code of the drug's coding with system :data:`NDC_SYSTEM`
    (the reader normalises it); ``drug_class`` and ``primary`` stay empty.
    Dose and volume are written on the start / given row only, like the rate.

Medication
    ``medicationCodeableConcept`` (R5 ``medication.concept``): ``drug`` is its
    text, else the first coding's display. ``medicationReference`` (R5
    ``medication.reference``) to a CONTAINED Medication (``#id``): one row
    per ingredient (``itemCodeableConcept`` / ``itemReference.display``; R5
    ``item``), all with the same ``infusate_id``, so a Medication with three
    ingredients is one mixed bag of three components (the contract's mixed
    infusate); without ingredients its ``code`` is the drug. An ingredient's
    ``strength`` numerator is its ``dose``; the Medication's ``amount``
    numerator (R5 ``totalVolume``) in mL is ``volume_ml``. A reference to a
    Medication that is not contained is resolved only through its
    ``display``. The RxNorm code of the drug's coding (system
    :data:`RXNORM_SYSTEM`) goes in the extra column :data:`RXNORM_COLUMN`
    (``drug`` stays the charted text); feeding it to the drug classifier is
    future work.

Route (``dosage.route``; first rule that matches)
    The route class comes from a SNOMED CT code (:data:`ROUTE_SNOMED`: IV
    47625008 / 255560000, IM 78421000, SC 34206005, intra-arterial
    58100008), else from words in the route's text, codings' displays or codes
    (``intravenous``, ``IV``, ``IVPUSH``, ``IM``, ``subcutaneous``, ``SC``,
    ``SQ``...). Method words (``dosage.method`` text, displays and codes, and
    the route's own words) refine it: :data:`PUSH_WORDS`,
    :data:`PUMP_WORDS` (a portable / ambulatory / implanted pump; a bedside
    "infusion pump" is not the ``pump`` route), :data:`INFUSION_WORDS`.

    ======================================  ==============  ================
    class, method, timing                   route           action(s)
    ======================================  ==============  ================
    any class, pump words                   pump            start (+ stop);
                                                            given for a
                                                            dateTime
    IV, push words                          iv_push         given
    IV, period                              iv_infusion     start (+ stop)
    IV, dateTime, infusion words            iv_infusion     given (engine's
                                                            missing-stop
                                                            policy applies)
    IV, dateTime                            iv_push         given
    IM                                      im_injection    given
    SC, period                              sc_infusion     start (+ stop)
    SC, dateTime                            sc_injection    given
    intra-arterial, period / dateTime       intra_arterial  start (+ stop) /
                                                            given
    ======================================  ==============  ================

    A ``given`` takes ``period.start`` when the resource has a period.

Status
    ``completed``, ``stopped``, ``on-hold`` (the charted piece: a stop at
    ``period.end`` when there is one) and ``in-progress`` (the start only:
    the bag is still running, the engine's missing-stop policy applies) are
    mapped. ``not-done``, ``entered-in-error``, ``unknown`` and any value
    outside the FHIR code set are unmapped with a reason.

Unmapped (column, reason; first that applies)
    a line that is not JSON (a truncated last line), a record with no
    ``resourceType``, a resourceType other than MedicationAdministration, a
    Bundle entry without a resource, a resource that fails ``fhir.resources``
    validation (the failing element paths and error types, never values),
    the status, a timing (R5 ``occurenceTiming``) with no single time or
    period, a medication with no usable name, a missing or unrecognised
    route. Reasons never contain patient values.

Speed
    Validation with the pydantic model is inherently one call per resource
    (about 5,000 resources/s on one core, ../shared/stack/fhir-x12-notes.md);
    only field extraction runs per resource, the mapping rules (status,
    route, actions, row expansion) are vectorised over the whole input.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fhir.resources.R4B.medicationadministration import MedicationAdministration as MedAdminR4B
from fhir.resources.medicationadministration import MedicationAdministration as MedAdminR5
from pydantic import ValidationError

from transforms.ingest.adapters import PROVENANCE, MappedExtract
from transforms.ingest.readers import ExtractError
from transforms.vocab import schemas

FORMAT = "fhir"
RESOURCE_TYPE = "MedicationAdministration"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
SNOMED_SYSTEM = "http://snomed.info/sct"
#: Extra column of ``rows``: the RxNorm code of the row's drug, when coded.
RXNORM_COLUMN = "rxnorm"
#: Extra column of ``unmapped``: the record's original text.
ORIGINAL_COLUMN = "original"

#: SNOMED CT route codes -> route class (iv, im, sc, ia = intra-arterial).
ROUTE_SNOMED: dict[str, str] = {
    "47625008": "iv",   # Intravenous route
    "255560000": "iv",  # Intravenous (used by some implementation guides)
    "78421000": "im",   # Intramuscular route
    "34206005": "sc",   # Subcutaneous route
    "58100008": "ia",   # Intra-arterial route
}
#: Route class by words of the route's text, displays and codes (lower case).
ROUTE_WORDS: tuple[tuple[str, str], ...] = (
    ("ia", r"intra-?arterial"),
    ("iv", r"intravenous|\biv(?:push|inj|injbol|infus|pb)?\b"),
    ("im", r"intramuscular|\bim(?:inj)?\b"),
    ("sc", r"subcutaneous|\bsub-?cut\w*|\bsub-?q\b|\bs\.?c\.?(?=\s|$|\W)|\bsq\b"),
)
PUSH_WORDS = r"push|\bivinj(?:bol)?\b"
PUMP_WORDS = (r"(?:portable|ambulatory|implant\w*|elastomeric|disposable|home)\s+(?:infusion\s+)?pump"
              r"|\bcadd\b|^pump$")
INFUSION_WORDS = r"infus|drip|piggy|\bivpb\b"

#: Statuses that are mapped; the others are unmapped with these reasons.
MAPPED_STATUSES: frozenset[str] = frozenset({"completed", "in-progress", "on-hold", "stopped"})
UNMAPPED_STATUSES: dict[str, str] = {
    "not-done": "status not-done: not administered",
    "entered-in-error": "status entered-in-error: charted in error",
    "unknown": "status unknown: not known to have been administered",
}
_R5_ONLY = frozenset({"occurenceDateTime", "occurencePeriod", "occurenceTiming", "encounter", "medication",
                      "basedOn", "isSubPotent", "subPotentReason", "recorded", "reason"})
_R4_ONLY = frozenset({"effectiveDateTime", "effectivePeriod", "context", "medicationCodeableConcept",
                      "medicationReference", "instantiates", "reasonCode", "reasonReference"})
_MODELS = {"R4B": MedAdminR4B, "R5": MedAdminR5}
_ML = frozenset({"ml", "milliliter", "milliliters", "millilitre", "millilitres"})
_HOURS = frozenset({"h", "hr", "hrs", "hour", "hours"})
_MINUTES = frozenset({"min", "mins", "minute", "minutes"})
_TEXT_COLUMNS: tuple[str, ...] = schemas.MAR_COLUMNS


@dataclass(frozen=True)
class _Record:
    """One input record before validation: parsed JSON (or None) and its text."""

    source_file: str
    source_record: int
    original: str
    resource: Any
    problem: str | None = None  # reason when unusable before validation
    column: str = ""


# --------------------------------------------------------------------------
# Files and records
# --------------------------------------------------------------------------
def _read_text(path: Path, limit: int | None = None) -> str:
    """The file as text (UTF-8, BOM dropped; gzip by its magic bytes)."""
    with open(path, "rb") as fd:
        head = fd.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as fd:
        data = fd.read() if limit is None else fd.read(limit)
    return data.decode("utf-8-sig", errors="strict" if limit is None else "ignore")


def _is_med_admin(value: object) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == RESOURCE_TYPE


def looks_like_fhir(path: Path) -> bool:
    """True when ``path`` holds FHIR MedicationAdministration content.

    NDJSON whose first non-blank line is a JSON object with ``resourceType``
    MedicationAdministration, a Bundle with at least one such entry, or one
    such resource. Reads the first 64 KiB, and the whole file only when it
    starts with ``{`` and its first line is not a complete object (a
    pretty-printed Bundle). Never raises: unreadable -> False.
    """
    try:
        head = _read_text(Path(path), limit=65536)
        first = next((line for line in head.splitlines() if line.strip()), "")
        try:
            if _is_med_admin(json.loads(first)):
                return True
        except ValueError:
            pass
        if not first.lstrip().startswith("{"):
            return False
        doc = json.loads(_read_text(Path(path)))
    except (OSError, ValueError, EOFError):
        return False
    if _is_med_admin(doc):
        return True
    if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        entries = doc.get("entry") or []
        return any(isinstance(e, dict) and _is_med_admin(e.get("resource")) for e in entries)
    return False


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _bundle_records(name: str, bundle: dict[str, Any]) -> Iterator[_Record]:
    """One record per entry (1-based); an entry without a resource is unusable."""
    for number, entry in enumerate(bundle.get("entry") or [], start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            yield _Record(name, number, _compact(entry), None, "Bundle entry has no resource", "resource")
        else:
            yield _Record(name, number, _compact(resource), resource)


def _line_records(name: str, text: str) -> Iterator[_Record]:
    """One record per non-blank NDJSON line, numbered by its line number."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            resource = json.loads(line)
        except ValueError:
            yield _Record(name, number, line, None, "line is not valid JSON (truncated or corrupt record)")
            continue
        yield _Record(name, number, line, resource)


def _file_records(path: Path) -> Iterator[_Record]:
    """The records of one file (Bundle, single resource or NDJSON).

    Raises:
        ExtractError: the file cannot be read or is not UTF-8.
    """
    try:
        text = _read_text(path)
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise ExtractError(path, f"cannot read FHIR file ({type(err).__name__})") from None
    name = path.name
    lines = [line for line in text.splitlines() if line.strip()]
    whole: Any = None
    if len(lines) > 1 and text.lstrip().startswith("{"):
        try:
            whole = json.loads(text)  # a pretty-printed Bundle or resource
        except ValueError:
            whole = None  # NDJSON: several objects
    if isinstance(whole, dict) and whole.get("resourceType") == "Bundle":
        yield from _bundle_records(name, whole)
    elif isinstance(whole, dict):
        yield _Record(name, 1, _compact(whole), whole)
    else:
        yield from _line_records(name, text)


# --------------------------------------------------------------------------
# One resource -> flat fields (per record: validation is per resource)
# --------------------------------------------------------------------------
def _release(resource: dict[str, Any]) -> str:
    """``"R5"`` when the resource has an R5-only field and no R4 one, else ``"R4B"``."""
    keys = set(resource)
    return "R5" if keys & _R5_ONLY and not keys & _R4_ONLY else "R4B"


def _validation_reason(release: str, err: ValidationError) -> str:
    """Element paths and error types of a validation failure (never the values)."""
    parts = []
    for e in err.errors()[:3]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".")
        parts.append(f"{loc or 'resource'} ({e['type']})")
    more = err.error_count() - len(parts)
    tail = f"; and {more} more" if more > 0 else ""
    return f"not a valid FHIR {release} MedicationAdministration: {'; '.join(parts)}{tail}"


def _ref_id(ref: Any) -> str | None:
    """Id part of a Reference (``Patient/P1`` -> ``P1``), else its identifier value."""
    if ref is None:
        return None
    if ref.reference:
        target = ref.reference.split("/_history/")[0].rstrip("/")
        return re.split(r"[/:#]", target)[-1] or None
    ident = getattr(ref, "identifier", None)
    return ident.value if ident is not None and ident.value else None


def _iso(value: Any) -> str | None:
    """A FHIR dateTime as ISO-8601 text; a datetime keeps its UTC offset."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _number(value: Decimal | float | None) -> str | None:
    """A decimal as plain text, at most 4 decimals (``Decimal('100.0')`` -> ``"100"``;
    a computed ``250 mL / 90 min`` -> ``"166.6667"``)."""
    if value is None:
        return None
    d = Decimal(str(value))
    if d.as_tuple().exponent < -4:  # type: ignore[operator]
        d = d.quantize(Decimal("0.0001"))
    return format(d.normalize(), "f")


def _unit(quantity: Any) -> str | None:
    return (quantity.unit or quantity.code) if quantity is not None else None


def _words(concept: Any) -> str:
    """Text, codings' displays and codes of a CodeableConcept, lower case, ``|``-joined."""
    if concept is None:
        return ""
    parts = [concept.text or ""]
    for c in concept.coding or []:
        parts += [c.display or "", c.code or ""]
    return " | ".join(p.strip().lower() for p in parts if p and p.strip())


def _concept_name(concept: Any) -> dict[str, Any]:
    """``drug`` (text, else first display), ``rxnorm`` and ``ndc`` codes of a CodeableConcept."""
    if concept is None:
        return {"drug": None, "rxnorm": None, "ndc": None}
    codings = concept.coding or []
    return {
        "drug": concept.text or next((c.display for c in codings if c.display), None),
        "rxnorm": next((c.code for c in codings if c.system == RXNORM_SYSTEM and c.code), None),
        "ndc": next((c.code for c in codings if c.system == NDC_SYSTEM and c.code), None),
    }


def _site(concept: Any) -> str | None:
    if concept is None:
        return None
    codings = concept.coding or []
    return concept.text or next((c.display or c.code for c in codings if c.display or c.code), None)


def _rate(dosage: Any) -> tuple[str | None, str | None]:
    """(rate, rate_unit): ``rateQuantity`` as charted, or ``rateRatio`` per hour.

    A ratio whose denominator is in hours or minutes becomes ``<num unit>/h``
    (``50 mL / 30 min`` -> ``100``, ``mL/h``); another denominator unit is
    kept as ``<num unit>/<den unit>`` (never read as mL/h by the engine).
    """
    if dosage is None:
        return None, None
    q = dosage.rateQuantity
    if q is not None and q.value is not None:
        return _number(q.value), _unit(q)
    ratio = dosage.rateRatio
    if ratio is None or ratio.numerator is None or ratio.numerator.value is None:
        return None, None
    num = Decimal(str(ratio.numerator.value))
    num_unit = _unit(ratio.numerator) or ""
    den = ratio.denominator
    den_value = Decimal(str(den.value)) if den is not None and den.value is not None else Decimal(1)
    den_unit = (_unit(den) or "").strip().lower() if den is not None else ""
    if den_value == 0:
        return None, None
    if den_unit in _HOURS:
        return _number(num / den_value), f"{num_unit}/h"
    if den_unit in _MINUTES:
        return _number(num * 60 / den_value), f"{num_unit}/h"
    return _number(num / den_value), f"{num_unit}/{den_unit or '1'}"


def _contained_medication(m: Any, ref: Any) -> Any:
    """The contained Medication a ``#id`` reference points to, else None."""
    target = ref.reference or ""
    if not target.startswith("#"):
        return None
    return next((c for c in m.contained or []
                 if c.id == target[1:] and c.get_resource_type() == "Medication"), None)


def _ingredient(release: str, ing: Any) -> dict[str, Any]:
    """One ingredient as a component: drug, rxnorm, dose (strength numerator)."""
    if release == "R4B":
        concept, ref = ing.itemCodeableConcept, ing.itemReference
        amount = ing.strength.numerator if ing.strength is not None else None
    else:
        concept = ing.item.concept if ing.item is not None else None
        ref = ing.item.reference if ing.item is not None else None
        amount = ing.strengthRatio.numerator if ing.strengthRatio is not None else ing.strengthQuantity
    comp = _concept_name(concept)
    if comp["drug"] is None and ref is not None:
        comp["drug"] = ref.display
    has_dose = amount is not None and amount.value is not None
    return {**comp, "dose": _number(amount.value) if has_dose else None,
            "dose_unit": _unit(amount) if has_dose else None}


def _medication_components(release: str, med: Any) -> list[dict[str, Any]]:
    """A contained Medication: one component per ingredient (one mixed bag), else its code.

    The bag's volume (R4B ``amount`` numerator, R5 ``totalVolume``) in mL is
    every component's ``volume_ml``.
    """
    total = (med.amount.numerator if med.amount is not None else None) if release == "R4B" else med.totalVolume
    volume = None
    if total is not None and total.value is not None and (_unit(total) or "").strip().lower() in _ML:
        volume = _number(total.value)
    comps = [_ingredient(release, ing) for ing in med.ingredient or []]
    if not comps:
        comps = [{**_concept_name(med.code), "dose": None, "dose_unit": None}]
    return [{**c, "volume_ml": volume} for c in comps]


def _components(release: str, m: Any) -> tuple[list[dict[str, Any]], str | None]:
    """(components, reason): the drug(s) of the resource, or why there is none usable."""
    if release == "R4B":
        concept, ref = m.medicationCodeableConcept, m.medicationReference
    else:
        concept = m.medication.concept if m.medication is not None else None
        ref = m.medication.reference if m.medication is not None else None
    blank = {"rxnorm": None, "ndc": None, "dose": None, "dose_unit": None, "volume_ml": None}
    if concept is not None:
        comps = [{**blank, **_concept_name(concept)}]
    elif ref is not None:
        med = _contained_medication(m, ref)
        if med is not None:
            comps = _medication_components(release, med)
        elif ref.display:
            comps = [{**blank, "drug": ref.display}]
        else:
            return [], "medication reference to a Medication that is not contained in the resource"
    else:
        return [], "no medication"
    if any(not c["drug"] for c in comps):
        return [], "medication has no text or coding display"
    return comps, None


def _with_dosage_dose(comps: list[dict[str, Any]], dosage: Any) -> list[dict[str, Any]]:
    """``dosage.dose``: in mL -> ``volume_ml`` of every component lacking one;
    another unit -> ``dose`` of a single component lacking one."""
    q = dosage.dose if dosage is not None else None
    if q is None or q.value is None:
        return comps
    if (_unit(q) or "").strip().lower() in _ML:
        return [{**c, "volume_ml": c["volume_ml"] or _number(q.value)} for c in comps]
    if len(comps) == 1 and comps[0]["dose"] is None:
        return [{**comps[0], "dose": _number(q.value), "dose_unit": _unit(q)}]
    return comps


def _route_fields(dosage: Any) -> dict[str, Any]:
    """Route code (the first SNOMED CT one, else the first), its system, route and method words."""
    route = dosage.route if dosage is not None else None
    codings = [c for c in (route.coding or []) if c.code] if route is not None else []
    snomed = [c for c in codings if c.system in (SNOMED_SYSTEM, None)]
    first = (snomed or codings or [None])[0]
    return {
        "route_code": first.code if first is not None else None,
        "route_system": (first.system or "") if first is not None else None,
        "route_words": _words(route),
        "method_words": _words(dosage.method if dosage is not None else None),
    }


def _timing(release: str, m: Any) -> dict[str, Any]:
    """``at`` (dateTime), ``start`` / ``end`` (period) as text; ``other_timing``: R5 Timing."""
    if release == "R4B":
        at, period, other = m.effectiveDateTime, m.effectivePeriod, None
    else:
        at, period, other = m.occurenceDateTime, m.occurencePeriod, m.occurenceTiming
    return {
        "at": _iso(at),
        "start": _iso(period.start) if period is not None else None,
        "end": _iso(period.end) if period is not None else None,
        "other_timing": other is not None,
    }


def _infusate(m: Any, fallback: str) -> str:
    """The MedicationAdministration named in ``partOf`` (same bag), else the resource id."""
    for ref in m.partOf or []:
        target = ref.reference or ""
        if ref.type == RESOURCE_TYPE or target.split("/_history/")[0].rsplit("/", 2)[-2:-1] == [RESOURCE_TYPE]:
            part = _ref_id(ref)
            if part:
                return part
    return m.id or fallback


def _fields(release: str, m: Any, rec: _Record) -> dict[str, Any]:
    """The flat fields of one validated resource (see :data:`_FLAT_COLUMNS`)."""
    dosage = m.dosage
    comps, med_reason = _components(release, m)
    rate, rate_unit = _rate(dosage)
    infusate = _infusate(m, f"{rec.source_file}#{rec.source_record}")
    encounter = m.context if release == "R4B" else m.encounter
    return {
        "status": m.status,
        **_timing(release, m),
        "encounter_id": _ref_id(encounter),
        "patient_id": _ref_id(m.subject),
        "order_id": _ref_id(m.request) or infusate,
        "infusate_id": infusate,
        **_route_fields(dosage),
        "access_site": _site(dosage.site) if dosage is not None else None,
        "rate": rate,
        "rate_unit": rate_unit,
        "components": _with_dosage_dose(comps, dosage),
        "med_reason": med_reason,
    }


def _flat(rec: _Record) -> dict[str, Any]:
    """One record as flat fields, or with ``reason`` / ``column`` when unusable.

    Validation is one pydantic call per resource: it cannot be vectorised.
    """
    base = {"source_file": rec.source_file, "source_record": rec.source_record,
            "original": rec.original, "reason": rec.problem, "column": rec.column}
    res = rec.resource
    if rec.problem:
        return base
    if not isinstance(res, dict) or "resourceType" not in res:
        return {**base, "reason": "record is not a FHIR resource (no resourceType)", "column": "resourceType"}
    if res["resourceType"] != RESOURCE_TYPE:
        kind = str(res["resourceType"])[:40]
        return {**base, "reason": f"resourceType {kind} is not {RESOURCE_TYPE}", "column": "resourceType"}
    release = _release(res)
    try:
        model = _MODELS[release].model_validate(res)
    except ValidationError as err:
        return {**base, "reason": _validation_reason(release, err), "column": "resource"}
    return {**base, "release": release, **_fields(release, model, rec)}


_FLAT_COLUMNS: tuple[str, ...] = (
    "source_file", "source_record", "original", "reason", "column", "release", "status", "at", "start",
    "end", "other_timing", "encounter_id", "patient_id", "order_id", "infusate_id", "route_code",
    "route_system", "route_words", "method_words", "access_site", "rate", "rate_unit", "components",
    "med_reason",
)


# --------------------------------------------------------------------------
# Mapping rules, vectorised over all resources
# --------------------------------------------------------------------------
def _route_class(flat: pd.DataFrame) -> pd.Series:
    """Route class per resource: SNOMED CT code (:data:`ROUTE_SNOMED`), else route words."""
    system = flat["route_system"].fillna("")
    by_code = flat["route_code"].map(ROUTE_SNOMED).where(system.isin([SNOMED_SYSTEM, ""]))
    words = flat["route_words"].fillna("")
    by_words = np.select([words.str.contains(p, regex=True).to_numpy(dtype=bool) for _, p in ROUTE_WORDS],
                         [c for c, _ in ROUTE_WORDS], default="")
    return by_code.fillna(pd.Series(by_words, index=flat.index, dtype=object)).astype(object)


def _routes(flat: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(canonical route, first action) per resource: the route table of the module docstring.

    ``""`` = no canonical route. The first action is ``given`` for a
    dateTime, a push or an injection, else ``start``.
    """
    cls = _route_class(flat)
    method = flat["method_words"].fillna("") + " | " + flat["route_words"].fillna("")
    push = method.str.contains(PUSH_WORDS, regex=True)
    pump = method.str.split(r" \| ").map(lambda ws: any(re.search(PUMP_WORDS, w) for w in ws))
    infusing = method.str.contains(INFUSION_WORDS, regex=True)
    period = flat["start"].notna()
    iv, sc = cls.eq("iv"), cls.eq("sc")
    rules = [
        (pump, "pump"), (iv & push, "iv_push"), (iv & period, "iv_infusion"), (iv & infusing, "iv_infusion"),
        (iv, "iv_push"), (cls.eq("im"), "im_injection"), (sc & period, "sc_infusion"), (sc, "sc_injection"),
        (cls.eq("ia"), "intra_arterial"),
    ]
    route = np.select([c.to_numpy(dtype=bool) for c, _ in rules], [r for _, r in rules], default="").astype(object)
    one_time = ~period.to_numpy() | np.isin(route, ["iv_push", "im_injection", "sc_injection"])
    return route, np.where(one_time, "given", "start").astype(object)


def _route_reason(flat: pd.DataFrame) -> np.ndarray:
    """Why a resource has no canonical route (names the code, never free text)."""
    code = flat["route_code"].fillna("")
    system = flat["route_system"].fillna("").replace("", "no system")
    coded = "route code " + code + " (" + system + ") is not a drug-administration route"
    missing = flat["route_words"].fillna("").eq("")
    return np.where(code.ne(""), coded, np.where(
        missing, "dosage.route missing", "route text is not recognised as a drug-administration route"))


def _decide(flat: pd.DataFrame) -> pd.DataFrame:
    """``flat`` with ``route``, ``action``, ``event_time``, ``has_stop``, and the
    final ``reason`` / ``column`` (``""`` = mapped; first failing check wins)."""
    status = flat["status"].fillna("").astype(str)
    bad_status = status.map(UNMAPPED_STATUSES).fillna(
        "status '" + status.str[:40] + "' is not a MedicationAdministration status")
    route, action = _routes(flat)
    no_time = flat["at"].isna() & flat["start"].isna()
    checks = [
        (flat["reason"].notna(), flat["reason"], flat["column"]),
        (~status.isin(MAPPED_STATUSES), bad_status, "status"),
        (no_time, "occurenceTiming is not supported (no single time or period)", "occurenceTiming"),
        (flat["med_reason"].notna(), flat["med_reason"], "medication"),
        (pd.Series(route == "", index=flat.index), _route_reason(flat), "dosage.route"),
    ]
    conds = [c.to_numpy(dtype=bool) for c, _, _ in checks]
    reason = np.select(conds, [np.asarray(r, dtype=object) for _, r, _ in checks], default="")
    column = np.select(conds, [np.asarray(k, dtype=object) for _, _, k in checks], default="")
    ends = flat["end"].notna() & status.ne("in-progress")
    return flat.assign(
        route=route, action=action, reason=reason, column=column,
        event_time=flat["start"].where(flat["start"].notna(), flat["at"]),
        has_stop=ends.to_numpy() & (action == "start"),
    )


def _objects(values: pd.Series) -> pd.Series:
    """Text column: ``object`` holding ``str`` or ``None`` (never NaN or ``""``)."""
    out = values.astype(object).where(values.notna(), None)
    return out.where(out.ne(""), None)


def _rows(mapped: pd.DataFrame) -> pd.DataFrame:
    """Canonical rows of the mapped resources: a start / given row, then a stop
    row when one is due, each once per component, in input order.

    Rate, dose and volume are on the start / given row only (the values after
    that event). Columns: ``schemas.MAR_COLUMNS``, :data:`PROVENANCE`,
    ``source_row`` (1..n), :data:`RXNORM_COLUMN`.
    """
    first = mapped.assign(_order=np.arange(len(mapped)), _ev=0)
    stop = mapped[mapped["has_stop"]].assign(
        _order=np.flatnonzero(mapped["has_stop"].to_numpy()), _ev=1, action="stop",
        event_time=mapped.loc[mapped["has_stop"], "end"], rate=None, rate_unit=None)
    events = pd.concat([first, stop], ignore_index=True).sort_values(["_order", "_ev"], kind="mergesort")
    events = events.explode("components", ignore_index=True)
    comp = pd.DataFrame(events["components"].tolist(), index=events.index,
                        columns=["drug", "rxnorm", "ndc", "dose", "dose_unit", "volume_ml"])
    is_stop = events["_ev"].eq(1)
    for col in ("dose", "dose_unit", "volume_ml"):
        comp[col] = comp[col].where(~is_stop, None)
    out = pd.concat([events.drop(columns=["components"]), comp], axis=1)
    for col in ("drug_class", "primary"):
        out[col] = None
    rows = pd.DataFrame({c: _objects(out[c]) for c in _TEXT_COLUMNS}, index=out.index)
    rows["source_file"] = out["source_file"].astype(object)
    rows["source_record"] = out["source_record"].astype("int64")
    rows[schemas.SOURCE_ROW] = np.arange(1, len(rows) + 1, dtype="int64")
    rows[RXNORM_COLUMN] = _objects(out["rxnorm"])
    return rows.reset_index(drop=True)


def _unmapped(bad: pd.DataFrame, first_row: int) -> pd.DataFrame:
    """Unmapped records: quarantine columns (``row`` from ``first_row``),
    :data:`PROVENANCE`, then :data:`ORIGINAL_COLUMN` (the record's text)."""
    return pd.DataFrame({
        "source": np.full(len(bad), "mar", dtype=object),
        "row": np.arange(first_row, first_row + len(bad), dtype="int64"),
        "column": bad["column"].astype(object).to_numpy(),
        "reason": bad["reason"].astype(object).to_numpy(),
        "source_file": bad["source_file"].astype(object).to_numpy(),
        "source_record": bad["source_record"].astype("int64").to_numpy(),
        ORIGINAL_COLUMN: bad["original"].astype(object).to_numpy(),
    }, columns=[*schemas.QUARANTINE_COLUMNS, *PROVENANCE, ORIGINAL_COLUMN])


def read_fhir(paths: Sequence[Path]) -> MappedExtract:
    """Map FHIR MedicationAdministration files onto canonical MAR rows.

    Args:
        paths: files (NDJSON, Bundle or single resource; ``.gz`` allowed), in
            the order their records are numbered; a folder is expanded by
            the caller.

    Returns:
        ``MappedExtract(kind="mar", format="fhir")``: ``rows`` as the module
        docstring maps them (text columns; times ISO-8601 with their offset;
        ``rate`` in the charted unit, ``mL/h`` for a per-hour ratio;
        ``volume_ml`` in mL), then the extra :data:`RXNORM_COLUMN`;
        ``unmapped`` with :data:`ORIGINAL_COLUMN`. Every record is in one of
        them (checked).

    Raises:
        ExtractError: a file cannot be read or is not UTF-8.
        AssertionError: the records do not reconcile (a bug).
    """
    flats = [_flat(rec) for path in paths for rec in _file_records(Path(path))]
    flat = pd.DataFrame(flats, columns=list(_FLAT_COLUMNS))
    if flat.empty:
        return MappedExtract("mar", FORMAT, _empty_rows(), _unmapped(flat, 1))
    decided = _decide(flat)
    ok = decided["reason"].eq("").to_numpy()
    rows = _rows(decided[ok].reset_index(drop=True)) if ok.any() else _empty_rows()
    unmapped = _unmapped(decided[~ok], len(rows) + 1)
    records_mapped = rows.drop_duplicates(list(PROVENANCE)).shape[0]
    if records_mapped + len(unmapped) != len(flat):
        raise AssertionError(f"FHIR records do not reconcile: {len(flat)} in, {records_mapped} mapped, "
                             f"{len(unmapped)} unmapped")
    return MappedExtract("mar", FORMAT, rows, unmapped)


def _empty_rows() -> pd.DataFrame:
    """A header-only ``rows`` frame."""
    cols = {c: pd.Series([], dtype=object) for c in (*_TEXT_COLUMNS, "source_file")}
    cols["source_record"] = pd.Series([], dtype="int64")
    cols[schemas.SOURCE_ROW] = pd.Series([], dtype="int64")
    cols[RXNORM_COLUMN] = pd.Series([], dtype=object)
    return pd.DataFrame(cols)
