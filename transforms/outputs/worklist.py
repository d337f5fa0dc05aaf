"""The coder's worklist: findings to act on, safe to open in a spreadsheet.

A cell of text that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or
carriage return) is read by spreadsheet programs as a formula; MAR free text
and claim ids come from outside, so every such text cell is prefixed with a
single quote (OWASP CSV-injection guidance). Numbers stay numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.vocab.findings import OVER, SEVERITY_ORDER, UNDER

#: First characters that make a spreadsheet read a text cell as a formula (OWASP CSV injection).
FORMULA_FIRST_CHARACTERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: The same rule as a regular expression (kept for readers of the old name).
FORMULA_START = r"^[=+\-@\t\r]"
WORKLIST_COLUMNS = [
    "severity", "direction", "finding", "encounter_id", "claim_id", "setting", "hcpcs",
    "billed_units", "expected_units", "dollar_impact", "explanation", "evidence",
]


def _starts_like_formula(values: pd.Series) -> np.ndarray | None:
    """Boolean mask of the ``str`` cells starting with a formula character; None when
    the column holds no text at all (e.g. dates).

    A column of text only is tested by Arrow (RE2, one pass in C); a column
    mixing text with other values by pandas' ``str.startswith`` (non-text
    cells are never risky).
    """
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        try:
            arrow = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            arrow = None
        if arrow is not None:
            found = pc.match_substring_regex(arrow, FORMULA_START).fill_null(False)
            return found.to_numpy(zero_copy_only=False)
    try:
        risky = values.str.startswith(FORMULA_FIRST_CHARACTERS, na=False)
    except AttributeError:
        return None
    return risky.fillna(False).to_numpy(dtype=bool)


def _neutralised_column(values: pd.Series) -> pd.Series | None:
    """``values`` with ``'`` before every text cell starting with a formula character,
    or None when no cell needs it.

    Only ``str`` cells of object/string columns are looked at: a number (even a
    negative one in an object column), a date or a missing value is never a formula.
    """
    if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
        return None
    risky = _starts_like_formula(values)
    if risky is None:
        return None
    if not risky.any():
        return None
    out = values.copy()
    out[risky] = "'" + values[risky]
    return out


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells a spreadsheet would run as a formula.

    A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading single quote; every other cell, and every non-text
    column, is unchanged, so a negative dollar amount stays a number. One
    vectorised test per column. Returns ``frame`` itself when no cell needs
    it (do not mutate the result), else a copy with the same columns and index.
    """
    changed = {position: fixed for position in range(frame.shape[1])
               if (fixed := _neutralised_column(frame.iloc[:, position])) is not None}
    if not changed:
        return frame
    out = frame.copy()
    for position, fixed in changed.items():
        out.isetitem(position, fixed)
    return out


def worklist_rows(findings: pd.DataFrame) -> pd.DataFrame:
    """:func:`worklist` before formula neutralising (the run folder's writer neutralises
    the cells as it writes them); a new frame, ``findings`` is not changed."""
    missing = {col: None for col in WORKLIST_COLUMNS if col not in findings}
    f = findings.assign(**missing)[WORKLIST_COLUMNS] if missing else findings[WORKLIST_COLUMNS]
    return f.take(worklist_order(f)).reset_index(drop=True)


def worklist_order(f: pd.DataFrame) -> np.ndarray:
    """Row positions of ``f`` (holding every column of :data:`WORKLIST_COLUMNS`) in worklist order:
    severity, then dollars at stake, then over- before under-billing, ties by encounter and code."""
    dollars = pd.to_numeric(f["dollar_impact"], errors="coerce").abs().fillna(0).to_numpy()
    severity = f["severity"].map(SEVERITY_ORDER).fillna(3).to_numpy()
    direction = f["direction"].map({OVER: 0, UNDER: 1}).fillna(2).to_numpy()
    # np.lexsort is stable and sorts by its last key first: the same order as a
    # mergesort by (severity, -dollars, direction, encounter, code).
    encounter = pd.factorize(f["encounter_id"], sort=True, use_na_sentinel=True)[0]
    code = pd.factorize(f["hcpcs"], sort=True, use_na_sentinel=True)[0]
    return np.lexsort((_last_if_missing(code), _last_if_missing(encounter), direction, -dollars, severity))


def _last_if_missing(codes: np.ndarray) -> np.ndarray:
    """Factorize codes with missing (-1) after every value, as ``sort_values`` puts NaN last."""
    return np.where(codes < 0, np.iinfo(np.int64).max, codes)


def worklist(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings ordered for action: severity, then dollars at stake, then
    over-billing before under-billing (ties by encounter and code); formula-safe."""
    return neutralise_formulas(worklist_rows(findings))


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
