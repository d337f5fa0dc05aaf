"""CMS NCCI claim edits: MUE (units) and PTP (code pairs), loaded as published.

Both edit families come from files the user downloads from CMS each quarter
(none may be fetched at run time). This module reads them in their published
layouts and checks canonical claim lines against them (R-M1 ... R-M4 of
``../shared/domain/coding-rules.md``).

**MUE tables** (practitioner and outpatient-hospital; CSV): a first row holding
the copyright preamble (one quoted cell, which may itself contain line
breaks), then a header whose quoted cells contain embedded newlines
(``"HCPCS/<newline>CPT Code"``, ``"Practitioner<newline>Services MUE Values"``),
then one row per code: code, MUE value, MUE adjudication indicator as label
text (``1 Line Edit``, ``2 Date of Service Edit: Policy``,
``3 Date of Service Edit: Clinical``) and the rationale. The setting is read
from the value column's header (``Practitioner`` -> professional,
``Outpatient Hospital`` -> facility). An empty value is kept as NaN: CMS does
not publish every MUE (some are confidential), so an empty value -- like a
code absent from the table -- means "value unknown", never "no edit". Such
codes are not checked.

**PTP tables** (``ccioph`` = hospital outpatient, ``ccipra`` = practitioner;
tab-delimited text, or the same columns comma-separated): preamble rows, a
header row starting ``Column 1``, ``Column 2``, legend rows (``*=no data``,
``0=not allowed`` ...), then: column 1 code, column 2 code, ``*`` when the edit
was in existence prior to 1996, effective date ``YYYYMMDD``, deletion date
``YYYYMMDD`` or ``*`` (not deleted), modifier indicator ``0`` / ``1`` / ``9``,
PTP edit rationale. The setting is read from the file name (``ccioph`` /
``ccipra``) unless given.

Checks (vectorised, no loop over rows):

* ``mue_exceeded``: units above the MUE of the claim's setting, per line under
  MAI 1, per claim, code and date of service (all lines added up) under MAI 2
  and 3 (R-M3). The audit has no billing-provider id, so lines of different
  claims are not added together.
* ``ptp_pair_without_modifier``: both codes of an active edit on one claim and
  date of service, the column 2 code being denied, unless the indicator is
  ``1`` and either line carries 59, XE, XS, XP or XU (R-M1). Indicator ``0``
  is never bypassed; ``9`` (deleted / not applicable) never fires. An edit is
  active on a date ``d`` when ``effective <= d`` and (no deletion date or
  ``d < deletion``).

Only drug-administration codes (96360-96379, 96401-96549) are checked for
MUEs; a PTP pair is checked when either of its codes is one.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.vocab.codes import is_drug_admin_code
from transforms.reference import tables_dir

FIXTURE_DIR: Path = tables_dir() / "ncci"
PTP_BYPASS_MODIFIERS: frozenset[str] = frozenset({"59", "XE", "XS", "XP", "XU"})
MAI_LABELS: dict[int, str] = {
    1: "Line Edit",
    2: "Date of Service Edit: Policy",
    3: "Date of Service Edit: Clinical",
}
MUE_COLUMNS: tuple[str, ...] = ("hcpcs", "setting", "mue", "mai", "mai_label", "rationale", "source")
PTP_COLUMNS: tuple[str, ...] = (
    "column1", "column2", "setting", "prior_1996", "effective", "deletion", "modifier_indicator", "rationale",
    "source",
)
EDIT_FINDING_COLUMNS: tuple[str, ...] = (
    "encounter_id", "claim_id", "hcpcs", "billed_units", "expected_units", "finding", "explanation",
    "direction", "setting", "evidence",
)
_HEADER_SCAN_ROWS = 60
_BYPASS_RE = r"(?:^|,)\s*(?:" + "|".join(sorted(PTP_BYPASS_MODIFIERS)) + r")\s*(?:,|$)"


@dataclass(frozen=True)
class EditTables:
    """Loaded NCCI edit tables, both settings together.

    Attributes:
        mue: one row per (``hcpcs``, ``setting``): ``mue`` (float units, NaN
            when the published value is empty: unknown, not "no edit"),
            ``mai`` (int 1/2/3), ``mai_label``, ``rationale``, ``source``.
        ptp: one row per edit: ``column1``, ``column2``, ``setting``,
            ``prior_1996`` (bool), ``effective`` and ``deletion``
            (datetime64, NaT = not deleted), ``modifier_indicator`` (str
            ``0``/``1``/``9``), ``rationale``, ``source``.
    """

    mue: pd.DataFrame
    ptp: pd.DataFrame


# --- reading -------------------------------------------------------------------
def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:  # CMS files are often Windows-1252 / Latin-1
        return data.decode("latin-1")


def _norm(cell: str) -> str:
    """A header cell with line breaks and runs of spaces collapsed, lower case."""
    return re.sub(r"\s+", " ", str(cell)).strip().lower()


def _table_after_header(
    path: Path, is_header: Callable[[list[str]], bool]
) -> tuple[list[str], pd.DataFrame]:
    """The header row (found by ``is_header`` on normalised cells) and the rows
    after it as a string frame with positional columns.

    Quoted cells may span lines (the MUE preamble and header do): the header
    is found with the csv module, the body is parsed by pandas in one go.
    """
    text = _decode(path)
    first_lines = text[:20000]
    delim = "\t" if first_lines.count("\t") > first_lines.count(",") else ","
    buf = io.StringIO(text, newline="")
    reader = csv.reader(buf, delimiter=delim)
    header: list[str] | None = None
    for _ in range(_HEADER_SCAN_ROWS):
        try:
            row = next(reader)
        except StopIteration:
            break
        if is_header([_norm(c) for c in row]):
            header = row
            break
    if header is None:
        raise ValueError(f"{path}: no header row found in the first {_HEADER_SCAN_ROWS} rows; "
                         "is this a CMS NCCI file in its published layout?")
    body = text[buf.tell():]
    n = len(header)
    frame = pd.read_csv(io.StringIO(body), sep=delim, header=None, names=list(range(n)), dtype=str,
                        keep_default_na=False, index_col=False, skip_blank_lines=True)
    return header, frame.apply(lambda s: s.str.strip())


def _mue_setting(value_header: str) -> str | None:
    h = _norm(value_header)
    if "practitioner" in h:
        return "professional"
    if "outpatient hospital" in h or "facility" in h:
        return "facility"
    return None


def load_mue(path: Path | str, setting: str | None = None) -> pd.DataFrame:
    """Read one CMS MUE table (practitioner or outpatient hospital) as published.

    Args:
        path: the CSV (``MCR_MUE_PractitionerServices_Eff_....csv`` style).
        setting: ``facility`` / ``professional``; by default read from the
            value column's header.

    Returns:
        Frame with :data:`MUE_COLUMNS` (see :class:`EditTables`).

    Raises:
        ValueError: naming the file (and the 1-based data row) for a missing
            column, an unknown setting (e.g. the DME table), a value that is
            not a whole number >= 0, an MAI label without 1/2/3, or a code
            listed twice.
    """
    path = Path(path)

    def is_header(cells: list[str]) -> bool:
        return any("hcpcs" in c or "cpt code" in c for c in cells) and any("mue value" in c for c in cells)

    header, raw = _table_after_header(path, is_header)
    names = [_norm(c) for c in header]

    def col(*words: str) -> int:
        for i, c in enumerate(names):
            if any(w in c for w in words):
                return i
        raise ValueError(f"{path}: MUE header has no column containing {' / '.join(words)!r}")

    i_code, i_val, i_mai, i_rat = col("hcpcs", "cpt code"), col("mue value"), col("adjudication"), col("rationale")
    setting = setting or _mue_setting(header[i_val])
    if setting not in ("facility", "professional"):
        raise ValueError(f"{path}: cannot tell the setting from the header {_norm(header[i_val])!r}; "
                         "only the practitioner and outpatient hospital tables are used")
    raw = raw[raw[i_code] != ""]
    row = pd.Series(np.arange(1, len(raw) + 1), index=raw.index)
    value = pd.to_numeric(raw[i_val].replace("", np.nan), errors="coerce")
    bad_value = (raw[i_val] != "") & (value.isna() | (value < 0) | (value % 1 != 0))
    mai = pd.to_numeric(raw[i_mai].str.extract(r"^\s*([123])\b", expand=False), errors="coerce")
    code = raw[i_code].str.upper()
    for mask, what in ((bad_value, "MUE value is not a whole number >= 0"),
                       (mai.isna(), "MUE adjudication indicator is not 1, 2 or 3"),
                       (code.duplicated(), "code listed twice")):
        if mask.any():
            raise ValueError(f"{path}: data row {int(row[mask].iloc[0])}: {what}")
    label = raw[i_mai].str.replace(r"\s+", " ", regex=True)
    return pd.DataFrame(
        {
            "hcpcs": code, "setting": setting, "mue": value.astype(float), "mai": mai.astype("int64"),
            "mai_label": label, "rationale": raw[i_rat], "source": path.name,
        }
    ).reset_index(drop=True)[list(MUE_COLUMNS)]


def _ptp_setting(name: str) -> str | None:
    n = name.lower()
    if "ccioph" in n:
        return "facility"
    if "ccipra" in n:
        return "professional"
    return None


def load_ptp(path: Path | str, setting: str | None = None) -> pd.DataFrame:
    """Read one NCCI PTP edit file (``ccioph`` / ``ccipra`` layout) as published.

    Args:
        path: tab-delimited text (or the same columns comma-separated).
        setting: ``facility`` / ``professional``; by default from the file
            name (``ccioph`` -> facility, ``ccipra`` -> professional).

    Returns:
        Frame with :data:`PTP_COLUMNS` (see :class:`EditTables`).

    Raises:
        ValueError: naming the file (and the 1-based row after the header)
            for an unknown setting, fewer than 6 columns, a bad effective or
            deletion date, or a modifier indicator other than 0, 1, 9.
    """
    path = Path(path)
    setting = setting or _ptp_setting(path.name)
    if setting not in ("facility", "professional"):
        raise ValueError(f"{path}: cannot tell the setting from the file name; pass setting= "
                         "(ccioph = facility, ccipra = professional)")

    def is_header(cells: list[str]) -> bool:
        return len(cells) >= 2 and cells[0].startswith("column 1") and cells[1].startswith("column 2")

    header, raw = _table_after_header(path, is_header)
    if raw.shape[1] < 6:
        raise ValueError(f"{path}: PTP header has {raw.shape[1]} columns, expected 7")
    row = pd.Series(np.arange(1, len(raw) + 1), index=raw.index)
    data = raw[(raw[0] != "") | (raw[1] != "")]  # legend rows have no codes
    row = row[data.index]
    eff = pd.to_datetime(data[3], format="%Y%m%d", errors="coerce")
    deleted = data[4].isin(["*", ""])
    dele = pd.to_datetime(data[4].where(~deleted), format="%Y%m%d", errors="coerce")
    ind = data[5]
    for mask, what in ((eff.isna(), "effective date is not YYYYMMDD"),
                       (~deleted & dele.isna(), "deletion date is not YYYYMMDD or *"),
                       (~ind.isin(["0", "1", "9"]), "modifier indicator is not 0, 1 or 9"),
                       ((data[0] == "") | (data[1] == ""), "a column 1 or column 2 code is empty")):
        if mask.any():
            raise ValueError(f"{path}: row {int(row[mask].iloc[0])} after the header: {what}")
    return pd.DataFrame(
        {
            "column1": data[0].str.upper(), "column2": data[1].str.upper(), "setting": setting,
            "prior_1996": data[2] == "*", "effective": eff, "deletion": dele, "modifier_indicator": ind,
            "rationale": data[6] if raw.shape[1] > 6 else "", "source": path.name,
        }
    ).reset_index(drop=True)[list(PTP_COLUMNS)]


def load_edit_tables(mue: Iterable[Path | str] = (), ptp: Iterable[Path | str] = ()) -> EditTables:
    """Load MUE and PTP files (any number of each; PTP parts are concatenated).

    Raises:
        ValueError: from the loaders, or a code with two MUE rows for one
            setting across files.
    """
    mues = [load_mue(p) for p in mue]
    ptps = [load_ptp(p) for p in ptp]
    m = pd.concat(mues, ignore_index=True) if mues else _empty(MUE_COLUMNS)
    dup = m.duplicated(["hcpcs", "setting"])
    if dup.any():
        r = m[dup].iloc[0]
        raise ValueError(f"{r['source']}: MUE for {r['hcpcs']} ({r['setting']}) is also in another file")
    p = pd.concat(ptps, ignore_index=True) if ptps else _empty(PTP_COLUMNS)
    return EditTables(mue=m, ptp=p)


def load_edit_directory(directory: Path | str = FIXTURE_DIR) -> EditTables:
    """Every MUE CSV (name containing ``MUE``) and PTP file (``ccioph*`` /
    ``ccipra*``) of a folder. The default folder holds the project's small
    FIXTURES (invented values, for tests and demos only, not CMS edits).
    """
    d = Path(directory)
    mue = sorted(p for p in d.glob("*.csv") if "mue" in p.name.lower())
    ptp = sorted(p for p in d.iterdir()
                 if p.is_file() and _ptp_setting(p.name) and p.suffix.lower() in {".txt", ".csv"})
    return load_edit_tables(mue, ptp)


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


# --- checks --------------------------------------------------------------------
def _claim_lines(claims: pd.DataFrame) -> pd.DataFrame:
    """Claim lines with ``setting``, a datetime ``dos`` and a text ``modifiers``."""
    c = claims[["claim_id", "encounter_id", "claim_type", "line_number", "service_date", "hcpcs", "units"]].copy()
    c["modifiers"] = claims["modifiers"].fillna("").astype(str) if "modifiers" in claims else ""
    c["setting"] = np.where(c["claim_type"] == "professional", "professional", "facility")
    c["dos"] = pd.to_datetime(c["service_date"])
    c["units"] = c["units"].astype("int64")
    c["hcpcs"] = c["hcpcs"].astype(str)
    return c


def _date_text(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d")


def mue_findings(claims: pd.DataFrame, mue: pd.DataFrame) -> pd.DataFrame:
    """``mue_exceeded`` findings: units over the MUE (R-M3).

    Args:
        claims: canonical claim lines (kept rows).
        mue: the ``mue`` table of :class:`EditTables`.

    Returns:
        :data:`EDIT_FINDING_COLUMNS`; ``billed_units`` is the line's units
        (MAI 1) or the claim's units of the code on that date (MAI 2/3),
        ``expected_units`` the MUE value.
    """
    lines = _claim_lines(claims)
    lines = lines[lines["hcpcs"].map(is_drug_admin_code).astype(bool)]
    known = mue[mue["mue"].notna()]  # an unpublished value is unknown: not checked, not "no edit"
    m = lines.merge(known[["hcpcs", "setting", "mue", "mai", "mai_label", "rationale"]], on=["hcpcs", "setting"])
    if m.empty:
        return _empty(EDIT_FINDING_COLUMNS)
    m["line_text"] = "line " + m["line_number"].astype(str) + " (" + m["units"].astype(str) + " units)"
    per_line = m[(m["mai"] == 1) & (m["units"] > m["mue"])]
    keys = ["claim_id", "encounter_id", "setting", "dos", "hcpcs", "mue", "mai", "mai_label", "rationale"]
    dated = m[m["mai"] != 1].sort_values("line_number", kind="mergesort")
    per_date = dated.groupby(keys, as_index=False, sort=False).agg(
        units=("units", "sum"), line_text=("line_text", ", ".join)
    )
    per_date = per_date[per_date["units"] > per_date["mue"]]
    hits = pd.concat([per_line[keys + ["units", "line_text"]], per_date], ignore_index=True)
    if hits.empty:
        return _empty(EDIT_FINDING_COLUMNS)
    mue_units = hits["mue"].astype("int64")
    scope = np.where(hits["mai"] == 1, "on one line", "on one date of service (all lines added)")
    consequence = np.select(
        [hits["mai"] == 1, hits["mai"] == 2],
        ["the line's units deny", "all units of the date deny and the denial cannot be appealed"],
        default="all units of the date deny unless an appeal documents the medical need",
    )
    out = pd.DataFrame(
        {
            "encounter_id": hits["encounter_id"],
            "claim_id": hits["claim_id"],
            "hcpcs": hits["hcpcs"],
            "billed_units": hits["units"].astype("int64"),
            "expected_units": mue_units,
            "finding": "mue_exceeded",
            "explanation": hits["hcpcs"] + " billed " + hits["units"].astype(str) + " units " + scope + " on "
            + _date_text(hits["dos"]) + "; the " + hits["setting"] + " MUE is " + mue_units.astype(str)
            + " (MAI " + hits["mai_label"] + ", rationale " + hits["rationale"] + "): " + consequence + ".",
            "direction": "over_billed",
            "setting": hits["setting"],
            "evidence": "claim " + hits["claim_id"].astype(str) + " " + _date_text(hits["dos"]) + " "
            + hits["hcpcs"] + ": " + hits["line_text"],
        }
    )
    return out[list(EDIT_FINDING_COLUMNS)]


def ptp_findings(claims: pd.DataFrame, ptp: pd.DataFrame) -> pd.DataFrame:
    """``ptp_pair_without_modifier`` findings (R-M1).

    Args:
        claims: canonical claim lines (kept rows).
        ptp: the ``ptp`` table of :class:`EditTables`.

    Returns:
        :data:`EDIT_FINDING_COLUMNS`, one row per (claim, date, column 2
        code, column 1 code); ``hcpcs`` is the denied column 2 code,
        ``billed_units`` its units on that claim and date, ``expected_units``
        0.
    """
    lines = _claim_lines(claims)
    codes = set(lines["hcpcs"])
    edits = ptp[ptp["column1"].isin(codes) & ptp["column2"].isin(codes) & (ptp["modifier_indicator"] != "9")]
    edits = edits[edits["column1"].map(is_drug_admin_code).astype(bool)
                  | edits["column2"].map(is_drug_admin_code).astype(bool)]
    if edits.empty or lines.empty:
        return _empty(EDIT_FINDING_COLUMNS)
    lines["bypass"] = lines["modifiers"].str.upper().str.replace(" ", "", regex=False).str.contains(_BYPASS_RE,
                                                                                                    regex=True)
    cols = ["claim_id", "encounter_id", "setting", "dos", "line_number", "hcpcs", "units", "modifiers", "bypass"]
    one = lines[cols].rename(columns={c: f"{c}_1" for c in ("line_number", "hcpcs", "units", "modifiers", "bypass")})
    two = lines[cols].rename(columns={c: f"{c}_2" for c in ("line_number", "hcpcs", "units", "modifiers", "bypass")})
    pairs = one.merge(two, on=["claim_id", "encounter_id", "setting", "dos"])
    pairs = pairs.merge(edits, left_on=["hcpcs_1", "hcpcs_2", "setting"], right_on=["column1", "column2", "setting"])
    active = (pairs["effective"] <= pairs["dos"]) & (pairs["deletion"].isna() | (pairs["dos"] < pairs["deletion"]))
    allowed = (pairs["modifier_indicator"] == "1") & (pairs["bypass_1"] | pairs["bypass_2"])
    hits = pairs[active & ~allowed]
    if hits.empty:
        return _empty(EDIT_FINDING_COLUMNS)
    keys = ["claim_id", "encounter_id", "setting", "dos", "hcpcs_2", "hcpcs_1", "modifier_indicator", "rationale"]
    col2_lines = hits.drop_duplicates(keys + ["line_number_2"]).sort_values("line_number_2", kind="mergesort")
    col2_lines = col2_lines.assign(
        text=col2_lines["hcpcs_2"] + " line " + col2_lines["line_number_2"].astype(str) + " x"
        + col2_lines["units_2"].astype(str) + np.where(col2_lines["modifiers_2"] != "",
                                                        " -" + col2_lines["modifiers_2"], "")
    )
    g = col2_lines.groupby(keys, as_index=False, sort=False).agg(units=("units_2", "sum"), text=("text", "; ".join))
    col1_lines = hits.drop_duplicates(keys + ["line_number_1"]).sort_values("line_number_1", kind="mergesort")
    col1_lines = col1_lines.assign(
        text1=col1_lines["hcpcs_1"] + " line " + col1_lines["line_number_1"].astype(str)
        + np.where(col1_lines["modifiers_1"] != "", " -" + col1_lines["modifiers_1"], "")
    )
    g = g.merge(col1_lines.groupby(keys, as_index=False, sort=False).agg(text1=("text1", "; ".join)), on=keys)
    how = np.where(
        g["modifier_indicator"] == "0",
        "modifier indicator 0: no modifier can bypass it, so " + g["hcpcs_2"] + " is not payable with "
        + g["hcpcs_1"],
        "modifier indicator 1: neither line carries 59, XE, XS, XP or XU, which only documentation of a "
        "separate site, encounter or practitioner would support",
    )
    out = pd.DataFrame(
        {
            "encounter_id": g["encounter_id"],
            "claim_id": g["claim_id"],
            "hcpcs": g["hcpcs_2"],
            "billed_units": g["units"].astype("int64"),
            "expected_units": 0,
            "finding": "ptp_pair_without_modifier",
            "explanation": g["hcpcs_2"] + " and " + g["hcpcs_1"] + " billed on one claim on " + _date_text(g["dos"])
            + " form an NCCI " + g["setting"] + " PTP pair (column 1 " + g["hcpcs_1"] + ", column 2 "
            + g["hcpcs_2"] + ", rationale: " + g["rationale"] + "); " + how + ".",
            "direction": "over_billed",
            "setting": g["setting"],
            "evidence": "claim " + g["claim_id"].astype(str) + " " + _date_text(g["dos"]) + ": " + g["text"]
            + " | with " + g["text1"],
        }
    )
    return out[list(EDIT_FINDING_COLUMNS)]


def check_edits(claims: pd.DataFrame, tables: EditTables) -> pd.DataFrame:
    """All NCCI findings (MUE then PTP) for canonical claim lines.

    Returns:
        :data:`EDIT_FINDING_COLUMNS`, sorted by encounter, claim, code and key.
    """
    parts = [f for f in (mue_findings(claims, tables.mue), ptp_findings(claims, tables.ptp)) if not f.empty]
    if not parts:
        return _empty(EDIT_FINDING_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["encounter_id", "claim_id", "hcpcs", "finding"], kind="mergesort").reset_index(drop=True)
