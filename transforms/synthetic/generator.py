"""Seeded synthetic MAR and claim extracts with labelled billing errors.

:func:`generate` builds an infusion centre's and an emergency department's
days: every encounter comes from a scenario template of
:mod:`transforms.synthetic.scenarios`, which also states the lines the
encounter supports under the default facility policy. Claims are billed
exactly right except for ``error_rate`` of the encounters, which get one
injected error whose key is the finding the audit must raise. The ground truth
(one row per encounter) and, on request, deliberately malformed rows are
returned with the extracts.

Same seed, same frames: all randomness comes from one
``numpy.random.Generator`` consumed in a fixed order, and nothing iterates
over a set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.vocab import schemas
from transforms.synthetic.scenarios import (
    ED_TEMPLATES,
    IC_TEMPLATES,
    Lines,
    Scenario,
    jcode_lines,
    pick,
    ri,
)

# Finding keys injected, in the order errors are dealt out (round robin).
ERROR_KEYS: tuple[str, ...] = (
    "concurrent_billed_twice",
    "concurrent_mixed_bag",
    "sequential_same_drug",
    "concurrent_missed",
    "hydration_during_drug",
    "initial_wrong_family",
    "additional_hours_overcounted",
    "additional_hours_undercounted",
)
ED_SHARE = 0.55
ADD_ON_HOURS: tuple[str, ...] = ("96366", "96415", "96361")
BAD_ROW_KINDS: tuple[tuple[str, str, str], ...] = (
    ("mar", "route", "unknown route"),
    ("mar", "event_time", "unparseable event_time"),
    ("mar", "encounter_id", "missing encounter_id"),
    ("claims", "hcpcs", "invalid hcpcs"),
    ("claims", "units", "units 0"),
)
TRUTH_COLUMNS: tuple[str, ...] = (
    "encounter_id", "setting", "scenario", "injected_error", "expected_findings", "correct_lines", "billed_lines",
)
BAD_ROW_COLUMNS: tuple[str, ...] = ("source", "row", "column", "problem", "encounter_id")

# ED arrivals by local hour (relative weights).
_ED_HOURS = np.array([2, 2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 5, 4, 3, 3], dtype=float)
_IC_OPEN, _IC_CLOSE = 7 * 60 + 30, 18 * 60
_CHARGES: dict[str, float] = {
    "96360": 420.0, "96361": 110.0, "96365": 520.0, "96366": 140.0, "96367": 230.0, "96368": 160.0,
    "96372": 95.0, "96374": 260.0, "96375": 120.0, "96376": 90.0, "96401": 310.0, "96402": 240.0,
    "96409": 510.0, "96411": 280.0, "96413": 1050.0, "96415": 210.0, "96416": 640.0, "96417": 480.0,
    "99283": 780.0, "99284": 1450.0, "99285": 2400.0, "G0378": 95.0, "G0463": 360.0, "36591": 70.0,
}


@dataclass(frozen=True)
class SyntheticExtracts:
    """What :func:`generate` returns.

    Attributes:
        mar: canonical MAR events (``schemas.MAR_COLUMNS``); ``event_time`` is
            tz-aware UTC (object dtype only when a malformed time was added).
        claims: canonical claim lines (``schemas.CLAIM_COLUMNS``).
        truth: one row per generated encounter (``TRUTH_COLUMNS``):
            ``correct_lines`` and ``billed_lines`` as ``96365x1;96368x1``
            (drug-administration codes only, sorted), ``injected_error`` and
            ``expected_findings`` the finding key or None.
        bad_rows: the malformed rows appended on request: ``source``, ``row``
            (0-based position in the returned frame), ``column``, ``problem``,
            ``encounter_id``.
        facility_tz: IANA zone whose UTC offset :func:`write_extracts` writes.
    """

    mar: pd.DataFrame
    claims: pd.DataFrame
    truth: pd.DataFrame
    bad_rows: pd.DataFrame
    facility_tz: str = "America/New_York"


@dataclass
class _Encounter:
    sc: Scenario
    local_start: datetime          # aware, facility zone
    encounter_id: str = ""
    patient_id: str = ""
    claim_id: str = ""
    error: str | None = None
    billed: Lines | None = None
    split_concurrent: bool = False


def _truth(encounters: list[_Encounter]) -> pd.DataFrame:
    """One row per encounter: its scenario, injected error, correct and billed lines."""
    return pd.DataFrame(
        [
            {
                "encounter_id": e.encounter_id,
                "setting": e.sc.setting,
                "scenario": e.sc.name,
                "injected_error": e.error,
                "expected_findings": e.error,
                "correct_lines": e.sc.correct.render(),
                "billed_lines": (e.billed or e.sc.correct).render(),
            }
            for e in encounters
        ],
        columns=list(TRUTH_COLUMNS),
    )


def generate(
    *,
    seed: int = 7,
    start: date = date(2026, 11, 2),
    days: int = 3,
    encounters_per_day: int = 120,
    error_rate: float = 0.15,
    bad_row_count: int = 0,
    facility_tz: str = "America/New_York",
) -> SyntheticExtracts:
    """Generate MAR and claim extracts with labelled billing errors.

    Args:
        seed: random seed; the same seed gives identical frames.
        start: local date of the first day.
        days: number of days.
        encounters_per_day: encounters started per day (55 % emergency
            department, 45 % infusion centre).
        error_rate: share of encounters given one injected error, dealt
            round-robin over :data:`ERROR_KEYS` among encounters whose
            template makes that error possible (fewer when too few are).
        bad_row_count: malformed rows appended to the output frames, cycling
            through :data:`BAD_ROW_KINDS`, each on an encounter of its own.
        facility_tz: IANA zone of the facility's wall clock.

    Returns:
        The extracts, the ground truth and the list of malformed rows.

    Raises:
        ValueError: a negative count, or ``error_rate`` outside [0, 1].
    """
    if days < 0 or encounters_per_day < 0 or bad_row_count < 0:
        raise ValueError("days, encounters_per_day and bad_row_count must be >= 0")
    if not 0.0 <= error_rate <= 1.0:
        raise ValueError(f"error_rate must be in [0, 1], got {error_rate}")
    tz = ZoneInfo(facility_tz)
    rng = np.random.default_rng(seed)
    encounters = _build_encounters(rng, start, days, encounters_per_day, tz)
    n = len(encounters)
    mrns = rng.choice(900_000, size=n, replace=False) + 100
    for i, enc in enumerate(encounters):
        enc.patient_id = f"MRN{int(mrns[i]):06d}"
        enc.claim_id = "C" + enc.encounter_id[1:]
    _assign_errors(rng, encounters, int(round(error_rate * n)))

    mar = _mar_frame(rng, encounters, tz)
    claims = _claims_frame(rng, encounters, tz)
    truth = _truth(encounters)
    bad = pd.DataFrame(columns=list(BAD_ROW_COLUMNS))
    if bad_row_count:
        # MRNs above the generated range: the good frames do not depend on bad_row_count
        mar, claims, bad = _append_bad_rows(
            mar, claims, start, encounters_per_day, [f"MRN{900_100 + i:06d}" for i in range(bad_row_count)], tz
        )
    return SyntheticExtracts(mar, claims, truth, bad, facility_tz)


# --- encounters ------------------------------------------------------------------
def _build_encounters(
    rng: np.random.Generator, start: date, days: int, per_day: int, tz: ZoneInfo
) -> list[_Encounter]:
    ed_w = np.array([w for _, w in ED_TEMPLATES], dtype=float)
    ic_w = np.array([w for _, w in IC_TEMPLATES], dtype=float)
    out: list[_Encounter] = []
    for d in range(days):
        day = start + timedelta(days=d)
        n_ed = int(round(per_day * ED_SHARE))
        todays: list[tuple[datetime, int, _Encounter]] = []
        for i in range(per_day):
            if i < n_ed:
                fn = ED_TEMPLATES[int(rng.choice(len(ed_w), p=ed_w / ed_w.sum()))][0]
            else:
                fn = IC_TEMPLATES[int(rng.choice(len(ic_w), p=ic_w / ic_w.sum()))][0]
            sc = fn(rng).normalised()
            m = _start_minute(rng, sc)
            local = datetime.combine(day, time(m // 60, m % 60), tzinfo=tz)
            todays.append((local, i, _Encounter(sc, local)))
        todays.sort(key=lambda t: (t[0].hour * 60 + t[0].minute, t[1]))
        for seq, (_, _, enc) in enumerate(todays, start=1):
            enc.encounter_id = f"E{day:%y%m%d}{seq:04d}"
            out.append(enc)
    return out


def _start_minute(rng: np.random.Generator, sc: Scenario) -> int:
    """Local minute of the day of the encounter's first event."""
    if sc.start_rule == "fixed" and sc.fixed_local is not None:
        return sc.fixed_local[0] * 60 + sc.fixed_local[1]
    if sc.start_rule == "ed_night":
        return ri(rng, 20 * 60, 23 * 60 + 30)
    if sc.start_rule == "ic":
        latest = max(_IC_OPEN, _IC_CLOSE - sc.span)
        return ri(rng, _IC_OPEN, latest)
    hour = int(rng.choice(24, p=_ED_HOURS / _ED_HOURS.sum()))
    return hour * 60 + ri(rng, 0, 59)


# --- injected errors ---------------------------------------------------------------
def error_options(rng: np.random.Generator, sc: Scenario) -> dict[str, Lines]:
    """Every error this encounter can carry: key -> billed lines (all differ from correct).

    Args:
        rng: generator used to choose which add-on line is miscounted.
        sc: the scenario.

    Returns:
        Template-specific variants plus the generic ones: 96368 billed twice
        or omitted (when 96368 is supported), 96368 added on a mixed bag (when
        it is not), +1 / -1 unit on a 96366/96415/96361 line. A +1 on 96361 is
        not offered when hydration overlapped a drug (the audit would rightly
        read it as hydration_during_drug).
    """
    c = sc.correct
    opts: dict[str, Lines] = dict(sc.variants)
    if "96368" in c.units:
        opts["concurrent_billed_twice"] = c.copy().set("96368", 2)
        opts["concurrent_missed"] = c.copy().set("96368", 0)
    elif sc.mixed_bag_at is not None:
        opts["concurrent_mixed_bag"] = c.copy().add("96368", 1, sc.mixed_bag_at)
    hours = [k for k in ADD_ON_HOURS if k in c.units]
    over = [k for k in hours if not (k == "96361" and sc.hydration_overlap)]
    if over:
        code = pick(rng, over)
        opts["additional_hours_overcounted"] = c.copy().set(code, c.units[code] + 1)
    if hours:
        code = pick(rng, [k for k in hours if c.units[k] >= 2] or hours)
        opts["additional_hours_undercounted"] = c.copy().set(code, c.units[code] - 1)
    return {k: v for k, v in opts.items() if v.render() != c.render()}


def _assign_errors(rng: np.random.Generator, encounters: list[_Encounter], target: int) -> None:
    """Deal ``target`` errors round-robin over the keys to eligible encounters."""
    options = [error_options(rng, e.sc) for e in encounters]
    order = [int(i) for i in rng.permutation(len(encounters))]
    pools = {k: [i for i in order if k in options[i]] for k in ERROR_KEYS}
    active = [ERROR_KEYS[int(j)] for j in rng.permutation(len(ERROR_KEYS))]
    done: dict[int, str] = {}
    while len(done) < target and active:
        for key in list(active):
            if len(done) >= target:
                break
            pool = pools[key]
            while pool and pool[-1] in done:
                pool.pop()
            if not pool:
                active.remove(key)
                continue
            done[pool.pop()] = key
    for i, key in done.items():
        enc = encounters[i]
        enc.error = key
        enc.billed = options[i][key]
        enc.split_concurrent = key == "concurrent_billed_twice" and bool(rng.random() < 0.5)


# --- MAR ---------------------------------------------------------------------------
def _mar_frame(rng: np.random.Generator, encounters: list[_Encounter], tz: ZoneInfo) -> pd.DataFrame:
    order_no = ri(rng, 40_000_000, 49_000_000)
    bag_no = ri(rng, 10_000_000, 19_000_000)
    cols: dict[str, list[Any]] = {c: [] for c in schemas.MAR_COLUMNS}
    minutes: list[int] = []
    t0s: list[int] = []
    for e in encounters:
        t0 = int(e.local_start.astimezone(timezone.utc).timestamp())
        orders: dict[str, str] = {}
        for a in e.sc.admins:
            if a.order is not None and a.order in orders:
                order_id = orders[a.order]
            else:
                order_no += 1
                order_id = f"ORD{order_no:08d}"
                if a.order is not None:
                    orders[a.order] = order_id
            bag_no += 1
            infusate = f"{'SYR' if a.kind in ('push', 'injection') else 'BAG'}{bag_no:08d}"
            site = None if a.kind == "injection" else (a.site or e.sc.site)
            for minute, action, rate in a.events():
                first = action in ("start", "given")
                for d in a.drugs:
                    cols["encounter_id"].append(e.encounter_id)
                    cols["patient_id"].append(e.patient_id)
                    cols["order_id"].append(order_id)
                    cols["infusate_id"].append(infusate)
                    cols["drug"].append(d.text)
                    cols["ndc"].append(None)
                    cols["drug_class"].append(None)
                    cols["route"].append(a.route)
                    cols["action"].append(action)
                    cols["access_site"].append(site)
                    cols["rate"].append(np.nan if rate is None else rate)
                    cols["rate_unit"].append(None if rate is None else "mL/h")
                    cols["dose"].append(d.dose if first else np.nan)
                    cols["dose_unit"].append(d.dose_unit if first else None)
                    cols["volume_ml"].append(d.volume_ml if first and d.volume_ml is not None else np.nan)
                    cols["primary"].append(pd.NA)
                    minutes.append(minute)
                    t0s.append(t0)
    secs = np.asarray(t0s, dtype="int64") + np.asarray(minutes, dtype="int64") * 60
    cols["event_time"] = pd.to_datetime(secs, unit="s", utc=True)  # type: ignore[assignment]
    mar = pd.DataFrame(cols, columns=list(schemas.MAR_COLUMNS))
    mar["primary"] = mar["primary"].astype("boolean")
    for c in ("rate", "dose", "volume_ml"):
        mar[c] = mar[c].astype("float64")
    # encounter order (already chronological ids), then time, then charting order
    enc_rank = pd.Series(range(len(encounters)), index=[e.encounter_id for e in encounters])
    key = np.lexsort((np.arange(len(mar)), secs, enc_rank.loc[mar["encounter_id"]].to_numpy()))
    return mar.iloc[key].reset_index(drop=True)


# --- claims --------------------------------------------------------------------------
def _revenue(code: str) -> str:
    if code.startswith("963"):
        return "0260"
    return "0331" if code in ("96401", "96402") else "0335"


def _claims_frame(rng: np.random.Generator, encounters: list[_Encounter], tz: ZoneInfo) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    j_price: dict[str, float] = {}
    for e in encounters:
        billed = e.billed or e.sc.correct

        utc0 = e.local_start.astimezone(timezone.utc)

        def day_of(minute: int, _t0: datetime = utc0) -> date:
            return (_t0 + timedelta(minutes=minute)).astimezone(tz).date()

        lines: list[tuple[str, int, str, str | None, date, float]] = []
        first_day = day_of(0)
        if e.sc.setting == "emergency":
            em = "99285" if e.sc.start_rule in ("ed_night", "fixed") else pick(
                rng, ("99283", "99284", "99284", "99285", "99285"))
            lines.append((em, 1, "0450", "25" if billed.units else None, first_day, _CHARGES[em]))
        for hcpcs, units, rev, mods in e.sc.extra:
            lines.append((hcpcs, units, rev, mods, first_day, _CHARGES.get(hcpcs, 100.0) * units))
        if e.sc.setting == "infusion_centre" and e.sc.site == "port" and rng.random() < 0.3:
            lines.append(("36591", 1, "0300", None, first_day, _CHARGES["36591"]))
        for code in sorted(billed.units):
            units = billed.units[code]
            when = day_of(billed.at[code])
            if code == "96368" and e.split_concurrent and units >= 2:
                for _ in range(units):
                    lines.append((code, 1, _revenue(code), None, when, _CHARGES[code]))
            else:
                lines.append((code, units, _revenue(code), None, when, _CHARGES[code] * units))
        for drug, units, minute in jcode_lines(e.sc.admins):
            code = drug.jcode or ""
            if code not in j_price:
                j_price[code] = round(float(rng.uniform(2.0, 60.0)), 2)
            lines.append((code, units, "0258" if drug.fluid else "0636", "JZ" if drug.chemo else None,
                          day_of(minute), round(j_price[code] * units, 2)))
        for n, (hcpcs, units, rev, mods, when, charge) in enumerate(lines, start=1):
            rows.append({
                "claim_id": e.claim_id, "encounter_id": e.encounter_id, "patient_id": e.patient_id,
                "claim_type": "institutional", "line_number": n, "service_date": when, "hcpcs": hcpcs,
                "units": units, "bill_type": "0131", "place_of_service": None, "modifiers": mods,
                "charge": round(charge, 2), "revenue_code": rev, "claim_frequency": "1",
            })
    claims = pd.DataFrame(rows, columns=list(schemas.CLAIM_COLUMNS))
    claims["line_number"] = claims["line_number"].astype("int64")
    claims["units"] = claims["units"].astype("int64")
    claims["charge"] = claims["charge"].astype("float64")
    return claims


# --- malformed rows ------------------------------------------------------------------
def _append_bad_rows(
    mar: pd.DataFrame, claims: pd.DataFrame, start: date, per_day: int, mrns: list[str], tz: ZoneInfo
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Append one malformed row per requested bad row, each on a fresh encounter."""
    mar_rows: list[dict[str, Any]] = []
    claim_rows: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    noon = pd.Timestamp(datetime.combine(start, time(12, 0), tzinfo=tz)).tz_convert("UTC")
    for i, mrn in enumerate(mrns):
        source, column, problem = BAD_ROW_KINDS[i % len(BAD_ROW_KINDS)]
        enc = f"E{start:%y%m%d}{per_day + 1 + i:04d}"
        if source == "mar":
            row: dict[str, Any] = {c: None for c in schemas.MAR_COLUMNS}
            row.update({
                "encounter_id": enc, "patient_id": mrn, "order_id": f"ORD9{i:07d}", "infusate_id": f"SYR9{i:07d}",
                "drug": "ondansetron (ZOFRAN) injection 4 mg", "route": "iv_push", "action": "given",
                "event_time": noon + pd.Timedelta(minutes=i), "access_site": "L forearm PIV", "rate": np.nan,
                "dose": 4.0, "dose_unit": "mg", "volume_ml": np.nan, "primary": pd.NA,
            })
            if column == "route":
                row["route"] = "nebulized"
            elif column == "event_time":
                row["event_time"] = "not a time"
            else:
                row["encounter_id"] = None
            listed.append({"source": "mar", "row": len(mar) + len(mar_rows), "column": column,
                           "problem": problem, "encounter_id": row["encounter_id"]})
            mar_rows.append(row)
        else:
            row = {
                "claim_id": "C" + enc[1:], "encounter_id": enc, "patient_id": mrn, "claim_type": "institutional",
                "line_number": 1, "service_date": start, "hcpcs": "96374", "units": 1, "bill_type": "0131",
                "place_of_service": None, "modifiers": None, "charge": 260.0, "revenue_code": "0260",
                "claim_frequency": "1",
            }
            if column == "hcpcs":
                row["hcpcs"] = "9636"
            else:
                row["units"] = 0
            listed.append({"source": "claims", "row": len(claims) + len(claim_rows), "column": column,
                           "problem": problem, "encounter_id": enc})
            claim_rows.append(row)
    if mar_rows:
        extra = pd.DataFrame(mar_rows, columns=list(schemas.MAR_COLUMNS))
        if any(isinstance(r["event_time"], str) for r in mar_rows):
            mar = mar.assign(event_time=mar["event_time"].astype(object))
        else:
            extra["event_time"] = pd.to_datetime(extra["event_time"], utc=True)
        extra["primary"] = extra["primary"].astype("boolean")
        mar = pd.concat([mar, extra], ignore_index=True)
    if claim_rows:
        claims = pd.concat([claims, pd.DataFrame(claim_rows, columns=list(schemas.CLAIM_COLUMNS))],
                           ignore_index=True)
        for c in ("line_number", "units"):
            claims[c] = claims[c].astype("int64")
    return mar, claims, pd.DataFrame(listed, columns=list(BAD_ROW_COLUMNS))


# --- writing ----------------------------------------------------------------------------
def _iso_local(values: pd.Series, tz: str) -> pd.Series:
    """ISO-8601 strings with the facility's UTC offset (``2026-11-02T09:15:00-05:00``)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        s = values.dt.tz_convert(tz).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        return s.str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True)
    zone = ZoneInfo(tz)

    def one(v: object) -> object:
        if isinstance(v, (pd.Timestamp, datetime)) and not pd.isna(v):
            return pd.Timestamp(v).tz_convert(zone).isoformat()
        return v

    return values.map(one)


def _arrow_table(frame: pd.DataFrame, lake: pa.Schema) -> pa.Table:
    """``frame`` as an Arrow table typed like the lake schema (all-null columns stay strings)."""
    fields = []
    for name in frame.columns:
        f = lake.field(name)
        if pa.types.is_timestamp(f.type) and not isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            f = pa.field(name, pa.string())
        fields.append(f)
    return pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)


def write_extracts(
    extracts: SyntheticExtracts, directory: Path, fmt: Literal["csv", "parquet"] = "csv", *,
    mar_format: Literal["canonical", "fhir"] = "canonical", claims_format: Literal["canonical", "x12"] = "canonical",
) -> dict[str, Path]:
    """Write the MAR and claims extracts, ``truth.csv`` and ``bad_rows.csv``.

    Args:
        extracts: what :func:`generate` returned.
        directory: created if missing.
        fmt: canonical files as ``csv`` (``event_time`` as ISO-8601 with the
            facility's UTC offset) or ``parquet`` (``event_time`` as a UTC
            timestamp, or the ISO strings when a malformed time makes the
            column text).
        mar_format: ``canonical`` (``mar.<fmt>``) or ``fhir`` (``mar.ndjson``,
            R4 MedicationAdministration resources).
        claims_format: ``canonical`` (``claims.<fmt>``) or ``x12``
            (``claims/`` with ``837i.x12`` and ``837p.x12``; the encounter in
            ``REF*D9``, so read them with ``x12_account_ref="REF[D9]"``).

    Returns:
        Paths keyed ``mar``, ``claims`` (a file or a folder), ``truth``, ``bad_rows``.

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"truth": directory / "truth.csv", "bad_rows": directory / "bad_rows.csv"}
    paths["mar"] = _write_mar(extracts, directory, fmt, mar_format)
    paths["claims"] = _write_claims(extracts, directory, fmt, claims_format)
    extracts.truth.to_csv(paths["truth"], index=False)
    extracts.bad_rows.to_csv(paths["bad_rows"], index=False)
    return paths


def _write_mar(extracts: SyntheticExtracts, directory: Path, fmt: str, mar_format: str) -> Path:
    if mar_format == "fhir":
        from transforms.synthetic.fhir_export import mar_to_fhir_ndjson

        return mar_to_fhir_ndjson(extracts.mar, directory / "mar.ndjson", facility_tz=extracts.facility_tz)
    path, mar = directory / f"mar.{fmt}", extracts.mar
    if fmt == "csv" or not isinstance(mar["event_time"].dtype, pd.DatetimeTZDtype):
        mar = mar.assign(event_time=_iso_local(mar["event_time"], extracts.facility_tz))
    if fmt == "csv":
        mar.to_csv(path, index=False)
    else:
        pq.write_table(_arrow_table(mar, schemas.MAR_ARROW), path)
    return path


def _write_claims(extracts: SyntheticExtracts, directory: Path, fmt: str, claims_format: str) -> Path:
    if claims_format == "x12":
        from transforms.synthetic.x12_export import claims_to_837

        folder = directory / "claims"
        folder.mkdir(exist_ok=True)
        for kind, name in (("institutional", "837i.x12"), ("professional", "837p.x12")):
            if (extracts.claims["claim_type"] == kind).any():
                claims_to_837(extracts.claims, folder / name, kind, account_ref="REF[D9]",
                              created=datetime(2026, 1, 1, tzinfo=timezone.utc))
        return folder
    path = directory / f"claims.{fmt}"
    if fmt == "csv":
        extracts.claims.to_csv(path, index=False)
    else:
        pq.write_table(_arrow_table(extracts.claims, schemas.CLAIM_ARROW), path)
    return path


def summary(extracts: SyntheticExtracts) -> dict[str, Any]:
    """Counts for a report: encounters per setting and scenario, errors per key.

    Args:
        extracts: what :func:`generate` returned.

    Returns:
        ``encounters``, ``injected``, ``error_rate``, ``errors_by_key``,
        ``by_setting``, ``mar_rows``, ``claim_lines``.
    """
    t = extracts.truth
    injected = t["injected_error"].notna()
    return {
        "encounters": int(len(t)),
        "injected": int(injected.sum()),
        "error_rate": float(injected.mean()) if len(t) else math.nan,
        "errors_by_key": {k: int(v) for k, v in t.loc[injected, "injected_error"].value_counts().sort_index().items()},
        "by_setting": {k: int(v) for k, v in t["setting"].value_counts().sort_index().items()},
        "mar_rows": int(len(extracts.mar)),
        "claim_lines": int(len(extracts.claims)),
    }
