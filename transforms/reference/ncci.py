"""CMS NCCI claim edits: MUE (units) and PTP (code pairs), loaded as published.

Both edit families come from files the user downloads from CMS each quarter
(none may be fetched at run time). This module only READS them, in their
published layouts; the checks that turn claim lines into ``mue_exceeded``
and ``ptp_pair_without_modifier`` findings (R-M1 ... R-M4 of
``../shared/domain/coding-rules.md``) are
:mod:`transforms.findings.claim_edits`.

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

from transforms.reference import tables_dir
from transforms.vocab.codes import SETTING_FACILITY, SETTING_PROFESSIONAL, SETTINGS

FIXTURE_DIR: Path = tables_dir() / "ncci"
MUE_COLUMNS: tuple[str, ...] = ("hcpcs", "setting", "mue", "mai", "mai_label", "rationale", "source")
PTP_COLUMNS: tuple[str, ...] = (
    "column1", "column2", "setting", "prior_1996", "effective", "deletion", "modifier_indicator", "rationale",
    "source",
)
_HEADER_SCAN_ROWS = 60


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
        return SETTING_PROFESSIONAL
    if "outpatient hospital" in h or "facility" in h:
        return SETTING_FACILITY
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
    if setting not in SETTINGS:
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
        return SETTING_FACILITY
    if "ccipra" in n:
        return SETTING_PROFESSIONAL
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
    if setting not in SETTINGS:
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
