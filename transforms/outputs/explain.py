"""Plain-text explanation of one encounter: its timeline and its lines."""

from __future__ import annotations

import pandas as pd

TIMELINE_COLUMNS = ["start", "end", "minutes", "drug_label", "drug_class", "kind", "role", "site", "site_group",
                    "infusates"]


def explain_encounter(
    encounter_id: str, administrations: pd.DataFrame, expected: pd.DataFrame, findings: pd.DataFrame
) -> str:
    """The reconstructed timeline, each expected line with its rule ids and
    MAR evidence, and the findings, as text for a coder.

    Raises:
        KeyError: the encounter is in none of the three tables.
    """
    adm = administrations[administrations["encounter_id"] == encounter_id]
    exp = expected[expected["encounter_id"] == encounter_id]
    fnd = findings[findings["encounter_id"] == encounter_id]
    if adm.empty and exp.empty and fnd.empty:
        raise KeyError(f"encounter {encounter_id} is not in this run")
    parts = [f"Encounter {encounter_id}", "", "Timeline (one row per administration):"]
    if adm.empty:
        parts.append("  (nothing charted)")
    else:
        cols = [c for c in TIMELINE_COLUMNS if c in adm]
        parts.append(adm.sort_values("start")[cols].to_string(index=False))
    parts += ["", "Expected lines:"]
    if exp.empty:
        parts.append("  (none)")
    for r in exp.itertuples():
        mods = f"-{r.modifiers}" if isinstance(r.modifiers, str) and r.modifiers else ""
        parts.append(f"  {r.service_date}  {r.hcpcs}{mods} x{r.units}  [{r.rule_ids}]")
        parts.append(f"      from: {r.evidence}")
    parts += ["", "Findings:"]
    if fnd.empty:
        parts.append("  (none: billed lines match)")
    for r in fnd.itertuples():
        parts.append(f"  {r.finding}: {r.explanation}")
    return "\n".join(parts) + "\n"
