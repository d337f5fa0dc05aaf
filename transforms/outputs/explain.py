"""Plain-text explanation of one encounter, for a coder: timeline, codes billed beside expected, findings.

:func:`explain_encounter` is what ``infusion-audit explain`` prints. It
reads the run folder's frames (every column may be text, as the CLI reads
the CSVs) and shows:

* the timeline, one row per administration, with its drug by name
  (:func:`transforms.outputs.report_charts.drug_names`) and its vascular
  access in words (``access 1 (l ac piv)``: the engine's ``site_group``
  numbered from 1, with the sites charted on it);
* per code, the billed units beside the expected units, their difference
  and the dollar impact of the findings on that code (a code without a
  finding was billed as expected: the comparison raises one for every
  difference);
* each expected line with its rule ids and MAR evidence;
* each finding with its plain title, key, direction, severity, dollars
  (or why there are none) and explanation;
* the policy profile that decided the encounter (``policy_profile`` of its
  expected lines and findings: the run's policy or its payer's,
  :mod:`transforms.payers`) and the settings in which that profile's preset
  differs from the default (:data:`transforms.vocab.policy.DEFAULT_POLICY`).
"""

from __future__ import annotations

import pandas as pd

from transforms.outputs.report_charts import drug_names, wall_time, words
from transforms.outputs.report_html import DIRECTION_WORDS, codes_for, price_notes
from transforms.outputs.report_markup import money_series, num
from transforms.payers import policy_differences
from transforms.vocab.findings import TITLE
from transforms.vocab.policy import DEFAULT_POLICY, PROFILES, load_policy
from transforms.vocab.schemas import POLICY_PROFILE

#: Timeline columns shown, in order (after the derived ``drug`` and ``access``), when present.
TIMELINE_COLUMNS = ["start", "end", "minutes", "drug", "drug_class", "kind", "role", "access", "infusates"]


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as text, missing values and absent columns as ``""``."""
    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    col = frame[column]
    return col.astype(object).where(col.notna(), "").astype(str)


def access_names(adm: pd.DataFrame) -> pd.Series:
    """Each administration's vascular access in words: ``access 1 (l ac piv)``.

    ``site_group`` (0-based, one per access the engine told apart) becomes
    ``access <n+1>``; the sites charted on that access follow in brackets
    (several spellings joined by ``/``). Without ``site_group`` the charted
    site alone is shown; an administration with neither is ``""``.
    """
    site = _text(adm, "site").str.strip()
    if "site_group" not in adm:
        return site
    group = pd.to_numeric(adm["site_group"], errors="coerce")
    sites = (pd.DataFrame({"g": group, "site": site})[site != ""].drop_duplicates()
             .sort_values(["g", "site"]).groupby("g")["site"].agg(" / ".join))
    label = "access " + (group + 1).map("{:.0f}".format)
    charted = group.map(sites)
    out = (label + " (" + charted.fillna("") + ")").where(charted.notna(), label)
    return out.where(group.notna(), site)


def _timeline(adm: pd.DataFrame) -> list[str]:
    """The timeline rows as a text table, in start order."""
    if adm.empty:
        return ["  (nothing charted)"]
    a = adm.sort_values("start", kind="mergesort")
    a = a.assign(drug=drug_names(a), access=access_names(a))
    for col in ("start", "end"):  # the facility clock, as the MAR shows it
        if col in a:
            a[col] = wall_time(a[col]).dt.strftime("%Y-%m-%d %H:%M").fillna("")
    a["role"] = words(_text(a, "role"))
    cols = [c for c in TIMELINE_COLUMNS if c in a]
    return [a[cols].to_string(index=False)]


def code_lines(encounter_id: str, expected: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """Billed beside expected units per code of one encounter, with the findings' dollars.

    Returns:
        One row per code (documentation findings, which have none, left
        out): ``code``, ``billed``, ``expected``, ``difference`` (billed -
        expected units), ``dollars`` (text: the sum of the findings'
        ``dollar_impact`` on the code, ``not priced`` when they have none,
        ``""`` when the code has no finding) and ``findings`` (their keys).
    """
    codes = codes_for(encounter_id, expected, findings)
    codes = codes[codes["hcpcs"] != ""].reset_index(drop=True)
    f = findings[findings["encounter_id"].astype(str) == encounter_id]
    usd = pd.to_numeric(f["dollar_impact"], errors="coerce") if "dollar_impact" in f else None
    by_code = (pd.DataFrame({"hcpcs": _text(f, "hcpcs"), "usd": usd}).groupby("hcpcs")["usd"].sum(min_count=1)
               if usd is not None else pd.Series(dtype=float))
    per_code = codes["hcpcs"].map(by_code).astype(float)
    dollars = money_series(per_code.fillna(0.0)).where(per_code.notna(), "not priced")
    dollars = dollars.where((codes["finding"] != "") & (usd is not None), "")
    return pd.DataFrame({
        "code": codes["hcpcs"], "billed": codes["billed_units"], "expected": codes["expected_units"],
        "difference": (codes["billed_units"] - codes["expected_units"]).map("{:+d}".format).replace("+0", "0"),
        "dollars": dollars, "findings": codes["finding"],
    })


def _expected_lines(exp: pd.DataFrame) -> list[str]:
    """Each expected line with its modifiers, rule ids and MAR evidence."""
    if exp.empty:
        return ["  (none)"]
    mods = _text(exp, "modifiers")
    head = ("  " + _text(exp, "service_date") + "  " + _text(exp, "hcpcs") + ("-" + mods).where(mods != "", "")
            + " x" + _text(exp, "units") + "  [" + _text(exp, "rule_ids") + "]")
    evidence = "      from: " + _text(exp, "evidence")
    return list((head + "\n" + evidence).to_numpy())


def _findings(fnd: pd.DataFrame) -> list[str]:
    """Each finding: title, key, code, direction, severity, dollars (or why none), explanation."""
    if fnd.empty:
        return ["  (none: billed lines match)"]
    key = _text(fnd, "finding")
    usd = pd.to_numeric(fnd["dollar_impact"], errors="coerce") if "dollar_impact" in fnd else None
    note = price_notes(fnd.assign(billed_units=num(fnd["billed_units"]), expected_units=num(fnd["expected_units"])))
    dollars = ("" if usd is None else
               (", " + money_series(usd.fillna(0.0)).where(usd.notna(), "no dollars")
                + ("; " + note).where(note != "", "")))
    code = _text(fnd, "hcpcs")
    direction = _text(fnd, "direction")
    detail = (code.where(code != "", "no code") + ", " + direction.map(DIRECTION_WORDS).fillna(direction)
              + (", " + _text(fnd, "severity")).where(_text(fnd, "severity") != "", "") + dollars)
    return list(("  " + key.map(TITLE).fillna(key) + " [" + key + "] (" + detail + "): "
                 + _text(fnd, "explanation")).to_numpy())


def policy_lines(expected: pd.DataFrame, findings: pd.DataFrame) -> list[str]:
    """The policy profile(s) that decided one encounter's lines and findings, each
    with the settings in which its preset differs from the default profile.

    Reads ``policy_profile`` of both frames (absent in run folders written
    before payer-specific rules: then ``[]``). A profile that is not a
    shipped preset is named without its settings (the run folder does not
    hold them).
    """
    names = sorted((set(_text(expected, POLICY_PROFILE)) | set(_text(findings, POLICY_PROFILE))) - {""})
    lines = []
    for name in names:
        if name not in PROFILES:
            lines.append(f"Policy profile: {name}")
            continue
        changed = policy_differences(load_policy(name), DEFAULT_POLICY)
        detail = ", ".join(f"{field}={ours} (default {theirs})" for field, (ours, theirs) in changed.items())
        lines.append(f"Policy profile: {name}" + (f"; differs from the default {DEFAULT_POLICY.name} in "
                                                   f"{detail}" if detail else " (the default)"))
    return lines


def explain_encounter(
    encounter_id: str, administrations: pd.DataFrame, expected: pd.DataFrame, findings: pd.DataFrame
) -> str:
    """The reconstructed timeline, the codes billed beside expected, each expected
    line with its rule ids and MAR evidence, and the findings, as text for a coder.

    Raises:
        KeyError: the encounter is in none of the three tables.
    """
    adm = administrations[administrations["encounter_id"].astype(str) == encounter_id]
    exp = expected[expected["encounter_id"].astype(str) == encounter_id]
    fnd = findings[findings["encounter_id"].astype(str) == encounter_id]
    if adm.empty and exp.empty and fnd.empty:
        raise KeyError(f"encounter {encounter_id} is not in this run")
    claim = _text(fnd, "claim_id")
    claim = claim[claim != ""]
    parts = [f"Encounter {encounter_id}" + (f" · claim {claim.iloc[0]}" if len(claim) else ""),
             *policy_lines(exp, fnd), "",
             "Timeline (one row per administration; local clock; access = vascular access the engine told apart):"]
    parts += _timeline(adm)
    parts += ["", "Codes, billed beside expected (a code without a finding was billed as expected):"]
    lines = code_lines(encounter_id, exp, fnd)
    parts.append("  (none)" if lines.empty else "  " + lines.to_string(index=False).replace("\n", "\n  "))
    usd = pd.to_numeric(fnd["dollar_impact"], errors="coerce") if "dollar_impact" in fnd else None
    if usd is not None and usd.notna().any():
        parts.append(f"  dollar impact of this encounter: {money_series(pd.Series([usd.sum()])).iloc[0]}")
    parts += ["", "Expected lines (rule ids; MAR evidence):"] + _expected_lines(exp)
    parts += ["", "Findings:"] + _findings(fnd)
    return "\n".join(parts) + "\n"
