"""The coder's worklist: findings to act on, safe to open in a spreadsheet.

A cell of text that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or
carriage return) is read by spreadsheet programs as a formula; MAR free text
and claim ids come from outside, so every such text cell is prefixed with a
single quote (OWASP CSV-injection guidance). Numbers stay numbers.
"""

from __future__ import annotations

import pandas as pd

from transforms.vocab.findings import OVER, SEVERITY_ORDER, UNDER

FORMULA_START = r"^[=+\-@\t\r]"
WORKLIST_COLUMNS = [
    "severity", "direction", "finding", "encounter_id", "claim_id", "setting", "hcpcs",
    "billed_units", "expected_units", "dollar_impact", "explanation", "evidence",
]


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells a spreadsheet would run as a formula.

    Only object/string columns are touched; numeric columns keep their type,
    so a negative dollar amount stays a number.
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col]
            risky = text.astype("string").str.contains(FORMULA_START, regex=True, na=False)
            out[col] = text.where(~risky, "'" + text.astype("string"))
    return out


def worklist(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings ordered for action: severity, then dollars at stake, then
    over-billing before under-billing; formula-safe."""
    f = findings.copy()
    for col in WORKLIST_COLUMNS:
        if col not in f:
            f[col] = None
    dollars = pd.to_numeric(f["dollar_impact"], errors="coerce").abs().fillna(0)
    order = f.assign(
        _sev=f["severity"].map(SEVERITY_ORDER).fillna(3),
        _usd=-dollars,
        _dir=f["direction"].map({OVER: 0, UNDER: 1}).fillna(2),
    ).sort_values(["_sev", "_usd", "_dir", "encounter_id", "hcpcs"], kind="mergesort")
    return neutralise_formulas(order[WORKLIST_COLUMNS].reset_index(drop=True))


def top_findings(findings: pd.DataFrame, n: int = 25) -> list[dict[str, str]]:
    """The ``n`` findings to act on first, as text records for a table artifact:
    over-billing first, then the largest dollars at stake, then the largest
    unit gaps. Encounter ids only: no patient identifier is among the columns."""
    if findings.empty:
        return []
    f = findings.copy()
    gap = (pd.to_numeric(f["billed_units"]) - pd.to_numeric(f["expected_units"])).abs()
    order = f.assign(_over=f["direction"].eq(OVER), _gap=gap)
    if "dollar_impact" in f:
        order["_dollars"] = pd.to_numeric(f["dollar_impact"], errors="coerce").abs().fillna(0)
    else:
        order["_dollars"] = 0.0
    order = order.sort_values(["_over", "_dollars", "_gap"], ascending=False, kind="mergesort").head(n)
    cols = [c for c in ("encounter_id", "hcpcs", "billed_units", "expected_units", "finding", "direction",
                        "severity", "dollar_impact") if c in order]
    return order[cols].astype(str).to_dict(orient="records")
