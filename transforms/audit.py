"""The audit as one pure composition: classified MAR + claims -> findings.

``run_audit`` is the ``audit`` stage of the composition root
(:func:`flows.pipeline.audit`): engine (classify, timeline, coding), then
findings (compare both settings, claim edits, one annotation), once per
policy profile the payers of the day's encounters use (:mod:`transforms.payers`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from transforms.engine.classify import classify_events
from transforms.engine.coding import Coding, code_facility, code_lines
from transforms.engine.timeline import Timeline, build_timeline
from transforms.findings import place_of_service
from transforms.findings.annotate import annotate
from transforms.findings.claim_edits import check_edits
from transforms.findings.compare import keyed_findings
from transforms.findings.matching import is_drug_admin
from transforms.findings.remits import apply_remits
from transforms.frames import expand_text
from transforms.payers import PayerMap, encounter_profiles, profile_policies
from transforms.reference.drugs import DrugReference
from transforms.reference.fees import FeeSchedule
from transforms.reference.ncci import EditTables
from transforms.vocab.codes import SETTING_FACILITY, SETTING_PROFESSIONAL
from transforms.vocab.policy import Policy
from transforms.vocab.schemas import EXPECTED_COLUMNS, FINDING_AUDIT_COLUMNS, POLICY_PROFILE


@dataclass(frozen=True)
class AuditResult:
    """Everything one audit produces.

    Attributes:
        administrations: the reconstructed timeline, one row per service,
            push or injection, with its ``role`` and ``site_group``.
        expected_lines: contract ``expected_codes`` rows (both settings), then
            ``policy_profile`` (:data:`transforms.vocab.schemas.EXPECTED_OUTPUT_COLUMNS`).
        findings: contract ``findings`` rows plus ``direction``,
            ``severity``, ``dollar_impact``, ``setting``, ``evidence`` and
            ``policy_profile`` (:data:`transforms.vocab.schemas.FINDING_AUDIT_COLUMNS`).
    """

    administrations: pd.DataFrame
    expected_lines: pd.DataFrame
    findings: pd.DataFrame


#: Input columns :func:`run_audit` never reads, per extract: who the patient is (no
#: output names a patient) and the order (staging makes ``infusate_id`` default to
#: it, and the engine groups by infusate). Validation and the lake keep them; a
#: caller that hands its frames to the audit leaves them out of the shards
#: (:func:`flows.pipeline.audit_taking`): about 0.5 GB at a million encounters.
UNREAD_INPUT_COLUMNS: dict[str, tuple[str, ...]] = {"mar": ("patient_id", "order_id", "service_date"), "claims": ("patient_id",)}


#: Entered around each step of the audit with the step's name (the bench's
#: clock); the default does nothing.
StepTimer = Callable[[str], AbstractContextManager[object]]


def _no_timer(_step: str) -> AbstractContextManager[object]:
    return nullcontext()


class StepSeconds(dict[str, float]):
    """Seconds per engine step, summed over every call: a :data:`StepTimer` whose
    record is plain data, so a shard audited in another process sends its own
    back to be :meth:`add`-ed (the steps of shards audited at once then sum to
    more than the audit's wall time)."""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - start

    def add(self, other: Mapping[str, float]) -> None:
        """Add ``other``'s seconds step by step."""
        for name, seconds in other.items():
            self[name] = self.get(name, 0.0) + seconds


def _in(frame: pd.DataFrame, encounters: pd.Index) -> pd.DataFrame:
    """The rows of ``frame`` whose encounter is one of ``encounters``; ``frame``
    itself (no copy) when every row's is."""
    keep = frame["encounter_id"].isin(encounters).to_numpy()
    return frame if keep.all() else frame[keep]


def _only(timeline: Timeline, encounters: pd.Index) -> Timeline:
    """The part of ``timeline`` that belongs to ``encounters``."""
    return Timeline(_in(timeline.blocks, encounters), _in(timeline.administrations, encounters),
                    _in(timeline.missing_stops, encounters), _in(timeline.unused_events, encounters))


@dataclass(frozen=True)
class _Settings:
    """Which billed lines and encounters each setting's comparison covers.

    The encounter sets are indexes of distinct ids (``isin`` against an
    index hashes only the frame's column)."""

    billed: pd.DataFrame              # drug-administration lines of every claim
    professional: pd.Series           # line on a physician claim
    in_facility_pos: pd.Series        # physician line in a facility POS: a finding of its own (R-K1)
    facility_encounters: pd.Index     # institutional claims, and charted encounters no claim covers
    professional_encounters: pd.Index
    covers_charted: bool              # every charted encounter is a facility one (no filter needed)


def _split_settings(claims: pd.DataFrame, charted: pd.Series) -> _Settings:
    keep = is_drug_admin(claims["hcpcs"])
    if keep.all():
        billed = claims
    else:
        # The drug-administration lines copy only the claim columns the comparison reads
        # (edits and remits read ``claims`` itself); the frame of them shares their arrays.
        read = ("claim_id", "encounter_id", "claim_type", "place_of_service", "hcpcs", "modifiers", "units")
        billed = pd.DataFrame({c: claims[c] for c in read if c in claims}, copy=False)[keep]
    prof = billed["claim_type"] == SETTING_PROFESSIONAL
    in_pos = place_of_service.in_facility_pos(billed)
    enc = billed["encounter_id"]
    inst = pd.unique(enc[~prof.to_numpy()].to_numpy())
    charted_ids = pd.unique(charted.to_numpy())
    if not prof.any():
        # No physician line: every charted encounter is a facility one.
        facility = pd.Index(inst).union(pd.Index(charted_ids), sort=False)
        return _Settings(billed, prof, in_pos, facility, pd.Index([], dtype=object), True)
    prof_ids = pd.unique(enc[(prof & ~in_pos).to_numpy()].to_numpy())
    claimed = np.concatenate([inst, prof_ids, enc[in_pos.to_numpy()].to_numpy()])
    uncovered = charted_ids[~pd.Index(charted_ids).isin(claimed)]
    facility = pd.Index(np.concatenate([inst, uncovered]))
    return _Settings(billed, prof, in_pos, facility, pd.Index(prof_ids),
                     bool(pd.Index(charted_ids).isin(facility).all()))


def _setting_findings(
    timeline: Timeline, coding: Coding, split: _Settings, policy: Policy, facility_tz: str,
) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """Keyed (not yet annotated) findings of both settings, and the professional expected lines.

    The facility comparison uses the facility coding of the whole timeline;
    the professional one codes its encounters again by the physician rules
    (R-A4, R-F2) and also applies the setting rule
    ``facility_only_code_on_professional`` of the rule table.
    """
    overlap = policy.concurrent_min_overlap_minutes
    fac, prof_enc = split.facility_encounters, split.professional_encounters

    def charted_in_facility(frame: pd.DataFrame) -> pd.DataFrame:
        # Administrations and unused events are the charted encounters themselves.
        return frame if split.covers_charted else _in(frame, fac)

    facility = keyed_findings(
        _in(coding.expected_lines, fac), _facility_lines(split), charted_in_facility(coding.administrations),
        coding.hydration, _in(timeline.missing_stops, fac), _in(timeline.blocks, fac),
        setting=SETTING_FACILITY, min_overlap_minutes=overlap,
        unused_events=charted_in_facility(timeline.unused_events),
    )
    if prof_enc.empty and not coding.expected_lines.empty:
        # No physician claim: coding and comparing nothing again would only
        # give empty frames (the facility ones have the same columns).
        return [facility], coding.expected_lines.iloc[:0].assign(setting=SETTING_PROFESSIONAL)
    prof_timeline = _only(timeline, prof_enc)
    prof_coding = code_lines(prof_timeline, policy, facility_tz, SETTING_PROFESSIONAL)
    prof_only = prof_enc.difference(fac, sort=False)
    professional = keyed_findings(
        prof_coding.expected_lines, split.billed[(split.professional & ~split.in_facility_pos).to_numpy()],
        _in(coding.administrations, prof_enc), prof_coding.hydration,
        _in(timeline.missing_stops, prof_only), prof_timeline.blocks,
        setting=SETTING_PROFESSIONAL, min_overlap_minutes=overlap,
        unused_events=_in(timeline.unused_events, prof_only),
    )
    return [facility, professional], prof_coding.expected_lines


def _facility_lines(split: _Settings) -> pd.DataFrame:
    """The billed lines of institutional claims (``split.billed`` itself when all are)."""
    institutional = ~split.professional.to_numpy()
    return split.billed if institutional.all() else split.billed[institutional]


def _expected_lines(facility: pd.DataFrame, professional: pd.DataFrame) -> pd.DataFrame:
    """Both settings' expected lines, sorted by encounter, setting, date and code (index ``0..n-1``)."""
    keys = ["encounter_id", "setting", "service_date", "hcpcs"]
    if professional.empty and _same_dtypes(facility, professional):
        # No professional line: no concat (a copy; it would change no dtype) and
        # usually no sort, as coding orders its lines.
        expected = _with_column(facility, "setting", SETTING_FACILITY)[list(EXPECTED_COLUMNS)]
    else:
        expected = pd.concat([facility.assign(setting=SETTING_FACILITY), professional],
                             ignore_index=True)[list(EXPECTED_COLUMNS)]
    if not _in_order(expected, keys):
        expected = expected.sort_values(keys, kind="mergesort")
    expected.index = pd.RangeIndex(len(expected))
    return expected


def _same_dtypes(facility: pd.DataFrame, professional: pd.DataFrame) -> bool:
    """Whether every expected column but ``setting`` has one dtype in both frames
    (concatenating an empty frame of another dtype would upcast the column)."""
    return all(c in facility and c in professional and facility[c].dtype == professional[c].dtype
               for c in EXPECTED_COLUMNS if c != "setting")


def _in_order(frame: pd.DataFrame, keys: list[str]) -> bool:
    """Whether the rows are already in ascending order of ``keys`` (ties allowed), so a
    stable sort would keep them as they are. One comparison pass per key; False when a
    key is missing (NaN) or values do not compare (the sort then decides)."""
    if len(frame) < 2:
        return True
    ahead = np.zeros(len(frame) - 1, dtype=bool)   # rows already before the next by an earlier key
    tied = np.ones(len(frame) - 1, dtype=bool)     # rows equal to the next on every key so far
    try:
        for key in keys:
            values = frame[key].to_numpy()
            before, after = values[:-1], values[1:]
            ahead |= tied & np.asarray(before < after, dtype=bool)
            tied &= np.asarray(before == after, dtype=bool)
    except TypeError:
        return False
    return bool((ahead | tied).all())


def _with_column(frame: pd.DataFrame, column: str, values: object) -> pd.DataFrame:
    """``frame`` with ``column`` set to ``values`` (array or scalar); the other columns
    are shared, not copied (a shallow copy: ``frame`` itself is unchanged), where
    ``assign`` would copy them all."""
    out = frame.copy(deep=False)
    out[column] = values
    return out


def _encounter_codes(frames: list[pd.DataFrame]) -> tuple[list[pd.DataFrame], np.ndarray] | None:
    """``frames`` with each ``encounter_id`` replaced by an int64 code, and the ids of the codes.

    Code ``i`` is the ``i``-th smallest distinct id of all frames (Python
    string order, as ``sort_values`` orders text), so every sort, group, join
    and ``isin`` on codes gives the rows the ids would, while hashing ints
    instead of text. ``None`` (use the ids as they are) when an id is missing
    or not text, whose order the codes could not keep.
    """
    if not all("encounter_id" in f for f in frames):
        return None
    columns = [f["encounter_id"].to_numpy(dtype=object) for f in frames]
    ids = np.concatenate(columns)
    # Rows come in runs of one encounter: hash one id per run (a missing id is a run of its own).
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, dtype=np.intp)
    head_codes, names = pd.factorize(ids[starts])
    names = np.asarray(names, dtype=object)
    if (head_codes < 0).any() or pd.api.types.infer_dtype(names, skipna=False) not in ("string", "empty"):
        return None
    # Codes in id order: an argsort of the distinct ids (timsort: they mostly come sorted).
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names), dtype=np.int64)
    codes = np.repeat(rank[head_codes], np.diff(np.r_[starts, len(ids)]))
    names = names[order]
    parts = np.split(codes, np.cumsum([len(c) for c in columns])[:-1])
    return [_with_column(f, "encounter_id", c) for f, c in zip(frames, parts)], names


def _decoded(frame: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    """``frame`` with the codes of :func:`_encounter_codes` back to their ids (object
    dtype); a missing code (none is expected) stays missing."""
    values = frame["encounter_id"].to_numpy(dtype=object)
    missing = pd.isna(values)
    ids = np.empty(len(values), dtype=object)
    ids[~missing] = names.take(values[~missing].astype(np.int64))
    ids[missing] = values[missing]
    return _with_column(frame, "encounter_id", ids)


def _compared(
    timeline: Timeline, coding: Coding, claims: pd.DataFrame, policy: Policy, facility_tz: str,
    edits: EditTables | None, fees: FeeSchedule | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The compare step: annotated findings of every source, sorted by
    encounter, setting, code and key, and the professional expected lines.

    Runs on int encounter codes (:func:`_encounter_codes`; same rows and
    order, far fewer text hashes), then puts the ids back."""
    t, c = timeline, coding
    # Coding.roles is not read by the comparison: left as it is.
    coded = _encounter_codes([t.blocks, t.administrations, t.missing_stops, t.unused_events,
                              c.expected_lines, c.hydration, c.administrations, claims])
    if coded is None:
        return _compared_on(timeline, coding, claims, policy, facility_tz, edits, fees)
    frames, names = coded
    findings, prof_expected = _compared_on(
        replace(timeline, blocks=frames[0], administrations=frames[1], missing_stops=frames[2],
                unused_events=frames[3]),
        replace(coding, expected_lines=frames[4], hydration=frames[5], administrations=frames[6]),
        frames[7], policy, facility_tz, edits, fees)
    return _decoded(findings, names), _decoded(prof_expected, names)


def _compared_on(
    timeline: Timeline, coding: Coding, claims: pd.DataFrame, policy: Policy, facility_tz: str,
    edits: EditTables | None, fees: FeeSchedule | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`_compared` on the frames as given (ids or codes alike)."""
    # An encounter whose only charting is unusable events is still audited (never nothing).
    charted = pd.concat([coding.administrations["encounter_id"], timeline.unused_events["encounter_id"]])
    split = _split_settings(claims, charted)
    parts, prof_expected = _setting_findings(timeline, coding, split, policy, facility_tz)
    if split.in_facility_pos.any():
        parts.append(place_of_service.professional_in_facility_pos(split.billed[split.in_facility_pos]))
    if edits is not None:
        parts.append(check_edits(claims, edits))
    kept = [p for p in parts if not p.empty]
    findings = pd.concat(kept, ignore_index=True) if kept else parts[0]
    # Direction, severity and dollars: the one annotation, over every source of findings.
    findings = apply_remits(annotate(findings, fees), claims)  # paid amounts, when an 835 was matched
    return findings.sort_values(["encounter_id", "setting", "hcpcs", "finding"], kind="mergesort"), prof_expected


def _audit_one(
    mar: pd.DataFrame, claims: pd.DataFrame, reference: DrugReference, policy: Policy, facility_tz: str,
    edits: EditTables | None, fees: FeeSchedule | None, step: StepTimer,
) -> AuditResult:
    """The audit of ``mar`` and ``claims`` under one policy (see :func:`run_audit`);
    every expected line and finding carries ``policy.name`` as its ``policy_profile``."""
    with step("classify"):
        events = classify_events(mar, reference, policy)
    with step("timeline"):
        timeline = build_timeline(events, policy)
    with step("coding"):
        coding = code_facility(timeline, policy, facility_tz)
    with step("compare"):
        findings, prof_expected = _compared(timeline, coding, claims, policy, facility_tz, edits, fees)
    findings = _with_column(findings, POLICY_PROFILE, policy.name)[list(FINDING_AUDIT_COLUMNS)]
    findings.index = pd.RangeIndex(len(findings))
    return AuditResult(
        administrations=coding.administrations,
        expected_lines=_with_column(_expected_lines(coding.expected_lines, prof_expected), POLICY_PROFILE,
                                    policy.name),
        findings=findings,
    )


def _by_encounter(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-profile outputs as one frame in the order one run gives: stably sorted by encounter.

    Each frame is already in the engine's order and every encounter lies in
    exactly one of them, so a stable sort by ``encounter_id`` restores the
    order the single-profile run makes (each output's first sort key).
    Empty frames are left out (their placeholder dtypes would upcast the others').
    """
    kept = [f for f in frames if not f.empty]
    if not kept:
        return frames[0]
    return pd.concat(kept, ignore_index=True).sort_values("encounter_id", kind="mergesort").reset_index(drop=True)


def _combined(parts: list[AuditResult]) -> AuditResult:
    """The audits of the profile groups as the one audit of the whole day."""
    administrations = _by_encounter([p.administrations for p in parts])
    if "admin_id" in administrations:
        # The engine numbers a day's administrations 0..n-1 in encounter order.
        administrations = administrations.assign(admin_id=np.arange(len(administrations), dtype="int64"))
    return AuditResult(administrations, _by_encounter([p.expected_lines for p in parts]),
                       _by_encounter([p.findings for p in parts]))


def _groups(frame: pd.DataFrame, profiles: pd.Series, default: str) -> pd.Series:
    """The profile of each row of ``frame``: its encounter's, else ``default``."""
    mapped = frame["encounter_id"].map(profiles) if len(profiles) else pd.Series(None, index=frame.index, dtype=object)
    return mapped.astype(object).where(mapped.notna(), default)


def run_audit(
    mar: pd.DataFrame,
    claims: pd.DataFrame,
    reference: DrugReference,
    policy: Policy,
    facility_tz: str,
    edits: EditTables | None = None,
    fees: FeeSchedule | None = None,
    timer: StepTimer | None = None,
    payer_map: PayerMap | None = None,
) -> AuditResult:
    """Audit validated MAR events against validated claim lines.

    Args:
        mar: kept MAR rows (canonical, typed; ``event_time`` UTC).
        claims: kept claim lines (canonical, typed; ``payer_id`` optional).
            Either may hold text as ``Categorical`` (the loader's compact
            staging): expanded here, one shard at a time (:func:`~transforms.frames.expand_text`).
        reference: drug reference (see :mod:`transforms.reference.drugs`).
        policy: the run's coding policy.
        facility_tz: IANA zone for line dates.
        edits: NCCI MUE / PTP tables (:mod:`transforms.reference.ncci`); ``None``
            skips the claim-edit checks (``mue_exceeded``, ``ptp_pair_without_modifier``).
        fees: fee schedule (:mod:`transforms.reference.fees`) for ``dollar_impact``;
            ``None`` leaves it empty (NaN). Claim lines carrying an 835's paid
            amounts (``remit_matched``, ``paid_amount``) price their
            over-billing instead (:mod:`transforms.findings.remits`).
        timer: entered around each step (classify, timeline, coding, compare).
        payer_map: which profile audits each payer's claims
            (:mod:`transforms.payers`). Each encounter is audited by the
            profile of its payer (:func:`~transforms.payers.encounter_profiles`:
            its first claim line naming a payer decides); encounters with no
            claim or no payer, and every encounter when ``None``, by
            ``policy`` (or the map's ``*`` profile). The engine runs once per
            profile used (vectorised over that profile's encounters).

    Returns:
        :class:`AuditResult`. Encounters present only in the MAR are audited
        against an empty claim (``administration_not_billed``); encounters
        billed without a MAR get ``no_administration_charted``. Every finding
        has a key of :data:`transforms.vocab.findings.FINDING_KEYS`, its
        direction, severity and dollar impact; every finding and expected
        line its ``policy_profile``. The frames are the same, row for row,
        as one run would give if every encounter had that profile.
    """
    step = _no_timer if timer is None else timer  # (an empty StepSeconds is falsy)
    mar, claims = expand_text(mar), expand_text(claims)
    policies = profile_policies(payer_map, policy)
    default = payer_map.default_profile(policy) if payer_map is not None else policy.name
    profiles = encounter_profiles(claims, payer_map, default)
    used = sorted(set(profiles) | {default}) if len(profiles) else [default]
    if len(used) == 1:
        return _audit_one(mar, claims, reference, policies[used[0]], facility_tz, edits, fees, step)
    mar_group, claim_group = _groups(mar, profiles, default), _groups(claims, profiles, default)
    parts = [
        _audit_one(mar[mar_group == name].reset_index(drop=True), claims[claim_group == name].reset_index(drop=True),
                   reference, policies[name], facility_tz, edits, fees, step)
        for name in used
    ]
    return _combined(parts)
