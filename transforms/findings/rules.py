"""THE ordered table of finding rules: which key a difference gets.

Every difference between expected and billed lines (one row per encounter
and code, :mod:`transforms.findings.matching`) is described by named
boolean *signals* (:func:`signals`): the code's role, over / under, what the
encounter's lines show, and the timeline facts
(:mod:`transforms.findings.facts`). A :class:`Rule` is a finding key and
the signals that must all hold (``when``) and must all not hold
(``unless``).

Invariants:

* :data:`RULES` is read top to bottom and the FIRST rule that holds gives
  the key; a row no rule matches gets :data:`DEFAULT_KEY` (``code_missed``).
  Order is precedence: specific keys before the generic ones of the same
  code, and the setting rule before every MAR rule.
* Two consecutive rules with one key are an "or" of both.
* Every key is one of :data:`transforms.vocab.findings.FINDING_KEYS`, and
  every signal a rule names is a column of :func:`signals` (both are tested).

Adding a rule: give it a row at its place of precedence; if it needs a fact
no signal states yet, add a column to :func:`signals` (from the code role,
:func:`transforms.findings.matching.encounter_lines` or
:func:`transforms.findings.facts.encounter_facts`), and its evidence and
sentence to :mod:`transforms.findings.explanations` when the default
(the expected line's evidence) is not the right one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.frames import select_labels
from transforms.vocab.codes import (
    ADD_ON_HOUR_CODES,
    CONCURRENT,
    FACILITY_ONLY_CODES,
    HYDRATION_CODES,
    HYDRATION_FIRST,
    INITIAL_CODES,
    PUMP_MISBILLED_CODES,
    PUMP_START_CODES,
    PUSH_CODES,
    REPEAT_PUSH,
    SEQUENTIAL_CODES,
    SETTING_PROFESSIONAL,
)


@dataclass(frozen=True)
class Rule:
    """A finding key and when it applies.

    Attributes:
        key: the finding key (:data:`transforms.vocab.findings.FINDING_KEYS`).
        when: signals that must all be True.
        unless: signals that must all be False.
    """

    key: str
    when: tuple[str, ...]
    unless: tuple[str, ...] = ()

    def holds(self, signals: pd.DataFrame) -> np.ndarray:
        """Boolean array over the rows of ``signals``."""
        ok = np.ones(len(signals), dtype=bool)
        for name in self.when:
            ok &= signals[name].to_numpy(dtype=bool)
        for name in self.unless:
            ok &= ~signals[name].to_numpy(dtype=bool)
        return ok


#: The rules, in order of precedence (first match wins). Rule ids: R-.. of
#: ../shared/domain/coding-rules.md (see the key's meaning in FINDING_KEYS).
RULES: tuple[Rule, ...] = (
    # --- setting: a facility-only code on the physician claim, whatever the MAR shows (R-F2)
    Rule("facility_only_code_on_professional", when=("professional", "facility_only_code", "over")),
    # --- whole encounter
    Rule("administration_not_billed", when=("expected_any",), unless=("billed_any",)),
    Rule("no_administration_charted", when=("billed_any",), unless=("expected_any", "charted")),
    # --- concurrent 96368 (R-E1 ... R-E4, R-B3, R-D5, D4, D12, D13)
    Rule("concurrent_billed_twice", when=("concurrent", "more_than_once")),
    Rule("concurrent_different_sites", when=("concurrent", "over", "diff_site_overlap"),
         unless=("same_site_overlap",)),
    Rule("concurrent_mixed_bag", when=("concurrent", "over", "mixed_bag")),
    Rule("concurrent_with_hydration", when=("concurrent", "over", "hyd_overlap"), unless=("same_site_overlap",)),
    Rule("concurrent_no_overlap", when=("concurrent", "over"), unless=("same_site_overlap",)),
    Rule("concurrent_not_supported", when=("concurrent", "over")),
    Rule("concurrent_missed", when=("concurrent", "under")),
    # --- 15 minutes or less is a push or injection (R-C2)
    Rule("infusion_under_16_minutes", when=("short_infusion",)),
    # --- prolonged pump (R-H8): both rows of a pump start billed as a push or hours
    Rule("pump_start_billed_as_push_or_hours", when=("pump_code", "under", "pump_misbilled_over", "pump_start")),
    Rule("pump_start_billed_as_push_or_hours", when=("pump_misbilled", "over", "pump_code_under", "pump_start")),
    Rule("pump_code_without_pump_start", when=("pump_code", "over"), unless=("pump_start",)),
    # --- hydration (R-G7, R-C4)
    Rule("hydration_during_drug", when=("hydration", "over", "hydration_shared", "initial_same_family")),
    Rule("hydration_under_31_minutes", when=("hydration", "over", "hydration_under_threshold")),
    # --- initial service (R-B1 ... R-B4, R-A2)
    Rule("second_initial_without_second_site",
         when=("initial", "over", "extra_initial", "expected_initial", "initial_same_family")),
    Rule("second_initial_without_second_site", when=("initial", "extra_initial", "expected_initials_all_billed")),
    Rule("second_initial_missed", when=("initial", "under", "initial_same_family", "second_site")),
    Rule("initial_wrong_family", when=("initial", "expected_initial"), unless=("initial_same_family",)),
    Rule("initial_wrong_family", when=("initial", "under"), unless=("initial_same_family",)),
    # --- sequential (R-D4)
    Rule("sequential_same_drug", when=("sequential", "over", "same_drug_bags")),
    Rule("sequential_not_supported", when=("sequential", "over")),
    Rule("sequential_missed", when=("sequential", "under")),
    # --- additional hours (R-C3)
    Rule("additional_hours_overcounted", when=("add_on_hour", "over")),
    Rule("additional_hours_undercounted", when=("add_on_hour", "under")),
    # --- pushes (R-F2)
    Rule("repeat_push_within_30_minutes", when=("repeat_push", "over", "fast_repeat")),
    Rule("repeat_push_not_supported", when=("repeat_push", "over")),
    Rule("push_not_supported", when=("push", "over")),
    Rule("push_missed", when=("push", "under")),
    Rule("push_missed", when=("repeat_push", "under")),
    # --- residual
    Rule("code_not_supported", when=("over",)),
)
#: The key of a difference no rule matches (an under-billed line).
DEFAULT_KEY = "code_missed"

#: Timeline facts a rule may name as they are (:func:`transforms.findings.facts.row_facts`).
_FACT_SIGNALS: tuple[str, ...] = (
    "same_site_overlap", "diff_site_overlap", "hyd_overlap", "mixed_bag", "same_drug_bags", "fast_repeat",
    "short_infusion", "pump_start",
)


def signals(diff: pd.DataFrame, facts: pd.DataFrame, encounter: pd.DataFrame, setting: str) -> pd.DataFrame:
    """The named booleans the rules read, one row per difference.

    Args:
        diff: differences (:func:`transforms.findings.matching.differences`).
        facts: :func:`transforms.findings.facts.row_facts` of ``diff``.
        encounter: :func:`transforms.findings.matching.encounter_lines` of ``diff``.
        setting: ``facility`` or ``professional``.

    Returns:
        Boolean columns indexed like ``diff``: the code's role
        (``concurrent``, ``initial``, ``sequential``, ``add_on_hour``,
        ``hydration``, ``push`` (96375/96411), ``repeat_push`` (96376),
        ``facility_only_code``, ``pump_code`` (96416/C8957), ``pump_misbilled``
        (a push, infusion or hour code, R-H8)), ``professional``, the units (``over``,
        ``under``, ``more_than_once``: 96368 over or on two lines with one
        unit supported, R-E1), every column of ``encounter``, the facts of
        :data:`_FACT_SIGNALS`, ``hydration_shared`` (hydration ran at least 31
        clock minutes, some of them with another infusion, R-G7) and
        ``hydration_under_threshold`` (fewer than 31 creditable minutes, R-C4).
    """
    h = diff["hcpcs"]
    role = {
        "concurrent": h == CONCURRENT,
        "initial": h.isin(INITIAL_CODES),
        "sequential": h.isin(SEQUENTIAL_CODES),
        "add_on_hour": h.isin(ADD_ON_HOUR_CODES),
        "hydration": h.isin(HYDRATION_CODES),
        "push": h.isin(PUSH_CODES),
        "repeat_push": h == REPEAT_PUSH,
        "facility_only_code": h.isin(FACILITY_ONLY_CODES),
        "pump_code": h.isin(PUMP_START_CODES),
        "pump_misbilled": h.isin(PUMP_MISBILLED_CODES),
    }
    units = {
        "over": diff["over"],
        "under": diff["under"],
        "more_than_once": (diff["over"] | diff["twice"]) & (diff["expected_units"] >= 1),
    }
    hydration = {
        "hydration_shared": (facts["hyd_clock"] > facts["hyd_free"]) & (facts["hyd_clock"] >= HYDRATION_FIRST),
        "hydration_under_threshold": facts["hyd_credited"] < HYDRATION_FIRST,
    }
    out = pd.DataFrame({**role, **units, **hydration}, index=diff.index)
    out["professional"] = setting == SETTING_PROFESSIONAL
    out[list(_FACT_SIGNALS)] = facts[list(_FACT_SIGNALS)].to_numpy(dtype=bool)
    return out.join(encounter)


def apply_rules(signals: pd.DataFrame, rules: tuple[Rule, ...] = RULES) -> np.ndarray:
    """The key of each row: the first rule of ``rules`` that holds, else
    :data:`DEFAULT_KEY`."""
    return select_labels([rule.holds(signals) for rule in rules], [rule.key for rule in rules], default=DEFAULT_KEY)
