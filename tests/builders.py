"""Tiny builders for MAR events, so rule tests read like the worked examples.

``ev("09:03", "start", "rituximab", cls="chemo")`` makes one classified MAR
event on 2026-11-02 in America/New_York; ``"+1 02:00"`` is the next day.
"""

from __future__ import annotations

import pandas as pd

from transforms.engine.coding import code_facility, code_lines
from transforms.vocab.policy import Policy
from transforms.engine.timeline import build_timeline

TZ = "America/New_York"
DAY = "2026-11-02"


def at(hhmm: str, day: str = DAY) -> pd.Timestamp:
    """Local wall time ``HH:MM`` (prefix ``+N `` for N days later) -> UTC."""
    offset = 0
    if hhmm.startswith("+"):
        plus, hhmm = hhmm.split(" ", 1)
        offset = int(plus[1:])
    local = pd.Timestamp(f"{day} {hhmm}") + pd.Timedelta(days=offset)
    return local.tz_localize(TZ).tz_convert("UTC")


def ev(
    time: str,
    action: str,
    drug: str,
    cls: str = "therapeutic",
    *,
    infusate: str | None = None,
    route: str | None = None,
    site: str | None = "L forearm PIV",
    encounter: str = "E1",
    rate: float | None = None,
    volume: float | None = None,
    hormonal: bool = False,
    primary: bool | None = None,
) -> dict:
    """One classified MAR event (a dict row)."""
    if route is None:
        route = "iv_push" if action == "given" else "iv_infusion"
    return {
        "encounter_id": encounter,
        "patient_id": "P1",
        "order_id": infusate or drug,
        "infusate_id": infusate or drug,
        "drug": drug,
        "drug_key": drug,
        "drug_class": cls,
        "hormonal": hormonal,
        "route": route,
        "action": action,
        "event_time": at(time),
        "access_site": site,
        "rate": rate,
        "rate_unit": "mL/h" if rate is not None else None,
        "volume_ml": volume,
        "primary": primary,
        "source_row": 0,
    }


def infusion(start: str, stop: str, drug: str, cls: str = "therapeutic", **kw) -> list[dict]:
    """A start and a stop event of one infusate."""
    return [ev(start, "start", drug, cls, **kw), ev(stop, "stop", drug, cls, **kw)]


def events(*rows: dict | list[dict]) -> pd.DataFrame:
    """Flatten rows into a MAR frame with unique ``source_row`` numbers."""
    flat: list[dict] = []
    for r in rows:
        flat.extend(r if isinstance(r, list) else [r])
    frame = pd.DataFrame(flat)
    frame["source_row"] = range(1, len(frame) + 1)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    for col in ("rate", "volume_ml"):
        frame[col] = frame[col].astype(float)
    return frame


def claim_lines(encounter: str, *lines: tuple[str, int], claim_type: str = "institutional",
                place_of_service: str | None = None, day: str = DAY) -> pd.DataFrame:
    """Billed lines ``("96365", 1), ...`` of one claim, canonical columns."""
    rows = [
        {
            "claim_id": f"C-{encounter}",
            "encounter_id": encounter,
            "patient_id": "P1",
            "claim_type": claim_type,
            "bill_type": "0131" if claim_type == "institutional" else None,
            "place_of_service": place_of_service,
            "line_number": i + 1,
            "service_date": pd.Timestamp(day).date(),
            "hcpcs": code,
            "modifiers": "",
            "units": units,
            "charge": 100.0,
            "revenue_code": "0260",
            "claim_frequency": "1",
            "source_row": i + 1,
        }
        for i, (code, units) in enumerate(lines)
    ]
    columns = ["claim_id", "encounter_id", "patient_id", "claim_type", "bill_type", "place_of_service",
               "line_number", "service_date", "hcpcs", "modifiers", "units", "charge", "revenue_code",
               "claim_frequency", "source_row"]
    return pd.DataFrame(rows, columns=columns)


def expected_lines(frame: pd.DataFrame, policy: Policy = Policy()) -> pd.DataFrame:
    """Facility expected lines of a classified MAR frame."""
    return code_facility(build_timeline(frame, policy), policy, TZ).expected_lines


def code_key(row) -> str:
    """``96374`` or ``96374-XU``: a line's code with its modifiers."""
    return row.hcpcs + (f"-{row.modifiers}" if row.modifiers else "")


def mar_of(*rows) -> pd.DataFrame:
    """MAR events whose class the audit must read from the drug text."""
    mar = events(*rows)
    mar["drug_class"] = None
    return mar.drop(columns=["drug_key"])


def codes(frame: pd.DataFrame, policy: Policy = Policy(), setting: str | None = None) -> dict[str, int]:
    """Units per code (``code_key``: code and modifiers) the engine expects for ``frame``:
    the facility claim by default, or the claim of ``setting``; codes with 0 units left out."""
    timeline = build_timeline(frame, policy)
    coding = code_facility(timeline, policy, TZ) if setting is None else code_lines(timeline, policy, TZ, setting)
    out: dict[str, int] = {}
    for row in coding.expected_lines.itertuples(index=False):
        out[code_key(row)] = out.get(code_key(row), 0) + int(row.units)
    return {k: v for k, v in out.items() if v}
