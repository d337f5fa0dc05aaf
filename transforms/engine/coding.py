"""Administration timeline -> expected drug-administration lines.

Implements the coding rules of ../shared/domain/coding-rules.md for the
facility (institutional) and the professional (office) claim; rule ids in
``rule_ids`` cite that file. :func:`code_lines` runs one function per rule
family, each in its own module of this package:

1. initial service and access sites (:mod:`~transforms.engine.sites`,
   :mod:`~transforms.engine.initial`): one initial service per encounter and
   vascular access site, chosen by the hierarchy chemo > therapeutic >
   hydration, infusion > push (R-A2, R-B1); a second site only when it is in
   use at the same time as the first (R-B3, R-B4), its initial line carrying
   ``XU``; push <= 15 active minutes, infusion >= 16 (R-C2); additional
   hours only for more than 30 minutes past each hour (R-C3, section 0);
2. sequential and concurrent infusions (:mod:`~transforms.engine.infusions`):
   sequential new drug 96367/96417 with its hours on 96366/96415 (R-D2,
   R-D3); concurrent 96368 once per encounter for a therapeutic infusate
   overlapping another one on the same site (R-E1, R-E2, D4), never within
   one bag (R-D5) nor with hydration (R-E4);
3. pushes (:mod:`~transforms.engine.pushes`): 96375 per new drug, 96376 for
   the same drug more than 30 minutes after its last reported push (facility
   only) (R-F1, R-F2, R-F4);
4. hydration (:mod:`~transforms.engine.hydration`): credited only for minutes
   no drug ran (R-G7), added up per encounter or per run (policy, D5),
   >= 31 minutes (R-C4), secondary hydration coded 96361 only (R-G5);
5. injections, SC infusion and pump start (:mod:`~transforms.engine.injections`):
   SC/IM injections 96372, antineoplastic 96401/96402 (R-A6, R-H6); pump
   start 96416 / C8957 (facility, non-chemo) with no minutes, refills 96521
   (R-H8);
6. line dating (:mod:`~transforms.engine.line_dates`): units are counted on
   the encounter's continuous total; each unit is dated on the
   facility-local day on which the minute that earned it fell (CMS line-item
   dates, R-C5) or, under policy ``line_date=start``, on the service's start
   day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.engine.hydration import code_hydration
from transforms.engine.infusions import code_infusions
from transforms.engine.initial import choose_initial, code_initial, hierarchy_rank
from transforms.engine.injections import code_injections
from transforms.engine.items import LINE_ITEM_COLUMNS, FamilyLines, extra_hours, secondary_hydration_units
from transforms.engine.line_dates import date_units
from transforms.engine.pushes import code_pushes
from transforms.engine.sites import assign_site_groups, shallow_reset, site_groups
from transforms.engine.timeline import Timeline
from transforms.frames import distinct_rows, minute_text, wall_minutes
from transforms.vocab.classes import UNKNOWN
from transforms.vocab.codes import SETTING_FACILITY
from transforms.vocab.policy import Policy

__all__ = [
    "Coding", "assign_site_groups", "code_facility", "code_lines", "evidence_text", "extra_hours",
    "secondary_hydration_units",
]


@dataclass(frozen=True)
class Coding:
    """Result of coding a timeline.

    Attributes:
        expected_lines: contract section 3 ``expected_codes`` rows.
        roles: one row per administration: ``admin_id``, ``encounter_id``,
            ``site_group`` and the ``role`` it played (for explanations).
        hydration: per encounter, the creditable hydration minutes.
        administrations: the timeline's administrations (same rows, same
            order) with ``site_group`` and ``role`` of ``roles`` and their
            ``evidence`` text (:func:`evidence_text`): what the comparison
            explains findings with.
    """

    expected_lines: pd.DataFrame
    roles: pd.DataFrame
    hydration: pd.DataFrame
    administrations: pd.DataFrame


def evidence_text(admins: pd.DataFrame, facility_tz: str) -> pd.Series:
    """``drug [infusates] local start-end (N min)`` for each administration.

    One-time events (0 active minutes) show their local time only; a
    missing time gives NaN. The times part is formatted once per distinct
    (start, end, minutes) and the ``drug [`` prefix once per distinct drug
    (:func:`transforms.frames.minute_text`, no ``strftime`` per row); only the
    infusates differ row by row.
    """
    start, end = wall_minutes(admins["start"], facility_tz), wall_minutes(admins["end"], facility_tz)
    timed = (admins["minutes"] > 0).to_numpy()
    # An untimed event's end and minutes are not shown: they do not split it.
    when_of, first = distinct_rows(start, np.where(timed, end, 0), np.where(timed, admins["minutes"].to_numpy(), 0))
    when = minute_text(start[first], with_date=True)
    timed, minutes = timed[first], admins["minutes"].iloc[first].astype(str).to_numpy(dtype=object)
    end = minute_text(end[first][timed], with_date=False)
    when[timed] = when[timed] + "-" + end + " (" + minutes[timed] + " min)"
    tail = "] " + pd.Series(when, dtype=object)  # NaN (a missing start) stays NaN
    label_of, labels = pd.factorize(admins["drug_label"])
    # A missing label (code -1) takes the placeholder last; None and NaN read
    # "None" and "nan", as str() writes them.
    prefix = np.r_[(pd.Series(labels, dtype=object).astype(str) + " [").to_numpy(dtype=object), [None]][label_of]
    missing = label_of < 0
    prefix[missing] = admins["drug_label"][missing].astype(str).to_numpy(dtype=object) + " ["
    infusates = admins["infusates"]
    if pd.api.types.infer_dtype(infusates, skipna=False) != "string":
        infusates = infusates.astype(str)
    head = pd.Series(prefix + infusates.to_numpy(dtype=object), index=admins.index, dtype=object)
    return head + tail.to_numpy(dtype=object)[when_of]


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
    admins, block_admin = site_groups(timeline)
    # Every rule family compares these two columns with constants many
    # times: as categoricals each comparison is one over small int codes.
    admins["kind"] = admins["kind"].astype("category")
    admins["drug_class"] = admins["drug_class"].astype("category")
    admins["evidence"] = evidence_text(admins, facility_tz)
    admins["rank"] = hierarchy_rank(admins, setting)
    initial = choose_initial(admins)
    admins["is_initial"] = admins["admin_id"].isin(initial.drugs["admin_id"])
    blocks = _blocks_with_admins(timeline.blocks, admins, block_admin)
    hydration = code_hydration(blocks, admins, initial, policy)
    # Order matters: a later family's role wins, and evidence of one line
    # lists its items in this order.
    families = [
        code_initial(initial.drugs, admins, policy),
        code_infusions(admins, blocks, policy, setting),
        code_pushes(admins, setting),
        code_injections(admins, setting),
        hydration.lines,
    ]
    # Frames built from the columns share their arrays (no copy before the concatenation).
    block_timing = pd.DataFrame({"timing_id": blocks["admin_id"], "start": blocks["start"], "end": blocks["end"]},
                                copy=False)
    timing = pd.concat([block_timing, hydration.timing], ignore_index=True)
    lines = date_units(_positive_items(families), timing, policy, facility_tz)
    lines["setting"] = setting
    roles = pd.DataFrame({c: admins[c] for c in ("admin_id", "encounter_id", "site_group")}, copy=False)
    roles["role"] = _roles(admins, families)
    # ``admins`` are the timeline's administrations, same rows, same order:
    # the roles are columns added to them (sharing the timeline's arrays), no join needed.
    administrations = shallow_reset(timeline.administrations)
    administrations["site_group"] = roles["site_group"].to_numpy()
    administrations["role"] = roles["role"].to_numpy()
    administrations["evidence"] = admins["evidence"].to_numpy()
    return Coding(expected_lines=lines, roles=roles, hydration=hydration.minutes, administrations=administrations)


def _blocks_with_admins(blocks: pd.DataFrame, admins: pd.DataFrame, block_admin: np.ndarray) -> pd.DataFrame:
    """The blocks of administrations with blocks, in block order, with
    ``admin_id``, ``site_group``, ``kind``, ``drug_class`` and ``_enc`` of
    their administration (``block_admin``: its admins row, -1 for none)."""
    keep = np.flatnonzero(block_admin >= 0)
    rows = block_admin[keep]
    # Usually every block has its administration: then the blocks' own column arrays are shared.
    out = shallow_reset(blocks) if len(keep) == len(blocks) else blocks.take(keep).reset_index(drop=True)
    for column in ("admin_id", "site_group", "_enc"):
        out[column] = admins[column].to_numpy()[rows]
    for column in ("kind", "drug_class"):  # categorical in code_lines: its codes are taken, no texts
        out[column] = admins[column].array.take(rows)
    return out


def _positive_items(families: list[FamilyLines]) -> pd.DataFrame:
    """All families' line items, in family order, without 0-unit items
    (labelled by their position among all items)."""
    items = [i for family in families for i in family.items if not i.empty]
    if not items:
        return pd.DataFrame(columns=LINE_ITEM_COLUMNS)
    # Positions among all items, then one copy: the concatenation of the kept rows.
    sizes = np.array([len(i) for i in items])
    offsets = np.cumsum(sizes) - sizes
    kept = [np.flatnonzero(i["units"].to_numpy() > 0) for i in items]
    line_items = pd.concat([i if len(k) == len(i) else i.take(k) for i, k in zip(items, kept)], ignore_index=True)
    line_items.index = pd.Index(np.concatenate([k + o for k, o in zip(kept, offsets)]))
    return line_items


def _roles(admins: pd.DataFrame, families: list[FamilyLines]) -> np.ndarray:
    """Role of each administration (``admins`` order), object dtype.

    ``not_reportable`` unless a family coded it (``unclassified`` for an
    unknown drug); a later family's role replaces an earlier one.
    """
    ids = admins["admin_id"].to_numpy()
    role = np.full(len(ids), "not_reportable", dtype=object)
    role[(admins["drug_class"] == UNKNOWN).to_numpy()] = "unclassified"
    # The timeline numbers its administrations 0..n-1 in row order: an id is
    # then its row, with no lookup; other ids are looked up.
    index = None if np.array_equal(ids, np.arange(len(ids))) else pd.Index(ids)
    for family in families:
        labels = family.roles.index
        rows = np.asarray(labels.to_numpy() if index is None else index.get_indexer(labels), dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(ids)):
            raise KeyError("a family gave a role to an unknown admin_id")
        role[rows] = family.roles.to_numpy()
    return role
