"""Expected vs billed drug-administration lines -> findings a compliance team can act on.

The pipeline of one setting's comparison, each step a module of this
package:

1. :mod:`~transforms.findings.matching`: expected vs billed lines per
   encounter and code (units summed over the encounter's dates; only
   96360-96379, 96401-96549 and the OPPS pump start C8957; every other
   billed line is ignored), and
   the differences.
2. :mod:`~transforms.findings.facts`: per-encounter timeline facts (which
   infusates overlapped, on which access site and for how many minutes; a
   mixed bag; the same drug in several bags; hydration running with a drug;
   a push charted as a short infusion; a repeat push within 30 minutes).
3. :mod:`~transforms.findings.rules`: THE ordered table that gives each
   difference its key of :data:`transforms.vocab.findings.FINDING_KEYS`.
4. :mod:`~transforms.findings.explanations`: the explanation sentence and the MAR
   evidence.
5. :mod:`~transforms.findings.documentation`: charting problems (missing
   stop times, unclassified drugs, MAR events the timeline could not use),
   both unit columns 0.
6. :mod:`~transforms.findings.annotate`: direction, severity, dollars, once
   per audit (:func:`compare` annotates its one setting; ``run_audit``
   annotates every source together and calls :func:`keyed_findings`).

An encounter whose billed lines equal the expected ones produces no finding
(unless its charting has a problem).
"""

from __future__ import annotations

import pandas as pd

from transforms.findings.annotate import annotate, severity
from transforms.findings.documentation import documentation_findings
from transforms.findings.explanations import explain
from transforms.findings.facts import encounter_facts, row_facts
from transforms.findings.matching import claim_of, differences, drug_admin_lines, encounter_lines, match_lines
from transforms.findings.rules import apply_rules, signals
from transforms.findings.separate_visits import visit_modifier_findings
from transforms.reference.fees import FeeSchedule
from transforms.vocab.codes import SETTING_FACILITY

__all__ = ["annotate", "compare", "keyed_findings", "severity"]


def keyed_findings(
    expected: pd.DataFrame,
    billed: pd.DataFrame,
    admins: pd.DataFrame,
    hydration: pd.DataFrame,
    missing_stops: pd.DataFrame,
    blocks: pd.DataFrame | None = None,
    *,
    setting: str = SETTING_FACILITY,
    min_overlap_minutes: int = 16,
    unused_events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Findings of one setting with key, evidence and explanation, NOT annotated.

    Arguments as :func:`compare` (without ``fees``).

    Returns:
        one row per (encounter, code) difference plus documentation rows,
        sorted by encounter, code and key (index ``0..n-1``); contract
        ``findings`` columns, ``setting``, ``evidence`` and working columns
        that :func:`~transforms.findings.annotate.annotate` drops;
        ``direction`` is set only on documentation rows.
    """
    billed = drug_admin_lines(billed)
    claims = claim_of(billed)
    lines = match_lines(expected, billed, admins, claims)
    diff = differences(lines)
    # Facts decide keys of differences only: compute them for those encounters alone.
    diff_encounters = pd.Index(diff["encounter_id"].unique())
    diff_admins = admins[admins["encounter_id"].isin(diff_encounters).to_numpy()]
    diff_blocks = None if blocks is None else blocks[blocks["encounter_id"].isin(diff_encounters).to_numpy()]
    facts = row_facts(encounter_facts(diff_admins, diff_blocks, min_overlap_minutes), diff, hydration)
    on_mar = encounter_lines(diff, lines, expected, diff_admins)  # the differences' own administrations suffice
    diff["finding"] = apply_rules(signals(diff, facts, on_mar, setting))
    diff["evidence"], diff["explanation"] = explain(diff, lines, facts, min_overlap_minutes)
    doc = documentation_findings(admins, missing_stops, claims, unused_events)
    visits = visit_modifier_findings(expected, billed, claims)
    findings = pd.concat([diff, doc] + ([visits] if not visits.empty else []), ignore_index=True)
    findings["setting"] = setting
    return findings.sort_values(["encounter_id", "hcpcs", "finding"], kind="mergesort").reset_index(drop=True)


def compare(
    expected: pd.DataFrame,
    billed: pd.DataFrame,
    admins: pd.DataFrame,
    hydration: pd.DataFrame,
    missing_stops: pd.DataFrame,
    blocks: pd.DataFrame | None = None,
    *,
    setting: str = SETTING_FACILITY,
    min_overlap_minutes: int = 16,
    fees: FeeSchedule | None = None,
    unused_events: pd.DataFrame | None = None,
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
        setting: ``facility`` or ``professional``, written on every row,
            used to price it and by the setting rule
            (``facility_only_code_on_professional``).
        min_overlap_minutes: minutes two drug infusates must overlap on one
            site to be concurrent (policy ``concurrent_min_overlap_minutes``).
        fees: fee schedule for ``dollar_impact`` (NaN without one).
        unused_events: MAR events the timeline could not use
            (``Timeline.unused_events``), one ``mar_event_not_used`` row
            each; ``None`` means none.

    Returns:
        :data:`~transforms.vocab.schemas.FINDING_ANNOTATED_COLUMNS` (contract
        ``findings`` columns first), sorted by encounter, code and key; one
        row per (encounter, code) difference plus documentation rows.
    """
    found = keyed_findings(expected, billed, admins, hydration, missing_stops, blocks, setting=setting,
                           min_overlap_minutes=min_overlap_minutes, unused_events=unused_events)
    return annotate(found, fees)
