"""Write canonical claim lines as X12 5010 837I / 837P files.

The inverse of :func:`transforms.ingest.adapters.x12.read_837` for the
canonical columns (contract section 2): the synthetic generator's claims can
be fed through the X12 path of the pipeline (bench, demos, round-trip tests).

Layout of one file: one interchange, one functional group, one transaction
set holding every claim of the requested kind; a billing provider (loop
2000A) with invented identifiers, then per claim a subscriber loop 2000B
(member id = ``patient_id``, a placeholder name and birth date: synthetic
data only) with the claim (2300) and its lines (2400).

Mapping back (what ``read_837(..., account_ref="REF[D9]")`` reads):
    claim_id -> CLM01; encounter_id -> REF*D9 (or nothing when
    ``account_ref="CLM01"``, which needs claim_id == encounter_id);
    patient_id -> REF*EA and NM1*IL NM109; payer_id (when the column exists)
    -> NM1*PR NM109, else ``PAYER01``; bill_type ``0FFQ`` -> CLM05-1 ``FF``;
    claim_frequency -> CLM05-3 (default: the bill type's last character,
    else 1); place_of_service -> CLM05-1 (837P, the claim's first line) and
    SV105 on lines that differ; line_number -> LX01; service_date -> DTP*472
    D8 (and the 837I statement period DTP*434 RD8 spans the lines' dates);
    hcpcs / modifiers / charge / units / revenue_code -> SV2 or SV1.
    A placeholder principal diagnosis (``R69``, illness unspecified) fills
    the mandatory HI segment: the audit reads no diagnosis.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

_VERSIONS = {"institutional": "005010X223A2", "professional": "005010X222A1"}
_PROVIDER_NPI = "1234567893"  # passes the NPI check digit; invented


def _money(value: object) -> str:
    """Dollars as X12 decimal text without trailing zeros (``780``, ``3.5``); missing -> ``0``."""
    if value is None or pd.isna(value):
        return "0"
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _text(value: object) -> str:
    """A cell as trimmed text, ``""`` when missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).strip()


def _ymd(value: object) -> str:
    """A service date (``date``, Timestamp or ISO text) as ``CCYYMMDD``."""
    return pd.Timestamp(str(value)).strftime("%Y%m%d")


def _procedure(row: pd.Series) -> str:
    """``HC:code[:mod...]`` (at most four modifiers, as the composite allows)."""
    mods = [m for m in _text(row.get("modifiers")).replace(";", ",").split(",") if m.strip()]
    return ":".join(["HC", _text(row["hcpcs"]), *[m.strip() for m in mods[:4]]])


def _line_segments(row: pd.Series, institutional: bool, claim_pos: str) -> list[str]:
    """LX, SV2/SV1 and DTP*472 of one canonical line."""
    units = _text(row["units"])
    if institutional:
        service = f"SV2*{_text(row.get('revenue_code'))}*{_procedure(row)}*{_money(row.get('charge'))}*UN*{units}"
    else:
        pos = _text(row.get("place_of_service"))
        sv105 = pos if pos and pos != claim_pos else ""
        service = f"SV1*{_procedure(row)}*{_money(row.get('charge'))}*UN*{units}*{sv105}**1"
    return [f"LX*{_text(row['line_number'])}", service, f"DTP*472*D8*{_ymd(row['service_date'])}"]


def _claim_segments(lines: pd.DataFrame, hl: int, institutional: bool, account_ref: str) -> list[str]:
    """Loop 2000B (subscriber, payer) and loop 2300 with its lines, for one claim_id."""
    first = lines.iloc[0]
    patient = _text(first["patient_id"])
    payer = _text(first.get("payer_id")) or "PAYER01"
    bill = _text(first.get("bill_type"))
    frequency = _text(first.get("claim_frequency")) or (bill[-1:] if len(bill) == 4 else "1")
    total = _money(pd.to_numeric(lines["charge"], errors="coerce").fillna(0).sum())
    segs = [f"HL*{hl}*1*22*0", "SBR*P*18*******CI" if not institutional else "SBR*P*18*******MB",
            f"NM1*IL*1*PATIENT*SYNTHETIC****MI*{patient}", "N3*1 MAIN ST", "N4*CENTERVILLE*PA*171111234",
            "DMG*D8*19700101*U", f"NM1*PR*2*SYNTHETIC PAYER*****PI*{payer}"]
    claim_pos = _text(first.get("place_of_service")) or "11"
    if institutional:
        dates = sorted(_ymd(d) for d in lines["service_date"])
        segs += [f"CLM*{_text(first['claim_id'])}*{total}***{bill[1:3] or '13'}:A:{frequency}**A*Y*Y",
                 f"DTP*434*RD8*{dates[0]}-{dates[-1]}", "CL1*1**01"]
    else:
        segs.append(f"CLM*{_text(first['claim_id'])}*{total}***{claim_pos}:B:{frequency}*Y*A*Y*I")
    if account_ref == "REF[D9]":
        segs.append(f"REF*D9*{_text(first['encounter_id'])}")
    segs += [f"REF*EA*{patient}", "HI*ABK:R69"]
    for _, row in lines.iterrows():
        segs += _line_segments(row, institutional, claim_pos)
    return segs


def _envelope(version: str, body: list[str], created: datetime) -> str:
    """ISA/GS/ST ... SE/GE/IEA around ``body``; SE01 counts ST through SE."""
    isa = ("ISA*00*          *00*          *ZZ*INFUSIONAUDIT  *ZZ*RECEIVERID     "
           f"*{created:%y%m%d}*{created:%H%M}*^*00501*000000001*0*T*:")
    st = [f"ST*837*0001*{version}", f"BHT*0019*00*1*{created:%Y%m%d}*{created:%H%M}*CH", *body]
    segs = [isa, f"GS*HC*INFUSIONAUDIT*RECEIVERID*{created:%Y%m%d}*{created:%H%M}*1*X*{version}",
            *st, f"SE*{len(st) + 1}*0001", "GE*1*1", "IEA*1*000000001"]
    return "".join(s + "~\n" for s in segs)


def claims_to_837(
    claims: pd.DataFrame, path: Path, kind: str, *, account_ref: str = "REF[D9]",
    created: datetime | None = None,
) -> Path:
    """Write the ``kind`` lines of ``claims`` as one 5010 837 file.

    Args:
        claims: canonical claim lines (``schemas.CLAIM_COLUMNS``, as
            ``generate(...).claims`` makes them; an optional ``payer_id``).
            Lines are grouped by ``claim_id`` in order of first appearance;
            a claim's lines keep their order. Values must be X12-safe (no
            ``~ * : ^``).
        path: file to write (ASCII, one segment per line).
        kind: ``"institutional"`` (837I, 005010X223A2) or ``"professional"``
            (837P, 005010X222A1): only lines of that ``claim_type`` are written.
        account_ref: ``"REF[D9]"`` (encounter_id in REF*D9) or ``"CLM01"``
            (no REF: the reader takes the account from CLM01).
        created: interchange date and time (default: now, UTC).

    Returns:
        ``path``. The file passes pyx12 validation when the values are valid
        (codes, whole units, dates).

    Raises:
        ValueError: unknown ``kind`` / ``account_ref``, or no line of that kind.
    """
    if kind not in _VERSIONS:
        raise ValueError(f"kind must be one of {sorted(_VERSIONS)}, not {kind!r}")
    if account_ref not in ("REF[D9]", "CLM01"):
        raise ValueError(f"account_ref must be 'REF[D9]' or 'CLM01', not {account_ref!r}")
    lines = claims[claims["claim_type"].astype(str).str.strip().str.lower().eq(kind)]
    if lines.empty:
        raise ValueError(f"no {kind} claim lines to write")
    institutional = kind == "institutional"
    body = ["NM1*41*2*INFUSION AUDIT SYNTHETIC*****46*SYNTH01", "PER*IC*BILLING OFFICE*TE*5555552222",
            "NM1*40*2*SYNTHETIC PAYER*****46*RECEIVER01", "HL*1**20*1",
            f"NM1*85*2*SYNTHETIC HOSPITAL*****XX*{_PROVIDER_NPI}", "N3*1 HOSPITAL DRIVE",
            "N4*CENTERVILLE*PA*171111234", "REF*EI*123456789"]
    for hl, (_, claim) in enumerate(lines.groupby("claim_id", sort=False), start=2):
        body += _claim_segments(claim, hl, institutional, account_ref)
    created = created or datetime.now(timezone.utc)
    path = Path(path)
    path.write_text(_envelope(_VERSIONS[kind], body, created), encoding="ascii")
    return path
