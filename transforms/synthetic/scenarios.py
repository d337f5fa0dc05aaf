"""Scenario templates of the synthetic MAR / claim generator.

Each template builds one encounter: the administrations a nurse would chart
(:class:`Admin`) and the drug-administration lines that encounter supports
under the default facility policy (``cms_facility``), computed with explicit
arithmetic for that template only. This module deliberately contains no
general coding engine: the templates are the independent oracle the audit is
measured against, so every template states its own lines, e.g.::

    # vancomycin first (earliest start): initial therapeutic infusion
    lines.add("96365", 1, a_start)
    lines.add("96366", addl_hours(t_a), a_start)
    # cefepime overlaps vancomycin >= 16 min from a separate bag: concurrent
    lines.add("96368", 1, b_start)

Times are whole minutes relative to the encounter's first charted event
(negative offsets are allowed while building; the generator anchors the
earliest one). Template-specific billing errors (``hydration_during_drug``,
``initial_wrong_family``, ``sequential_same_drug``) are built here too, as the
lines a coder making that mistake would bill; the generic ones (96368 twice or
missing, add-on hours +/-1, 96368 on a mixed bag) are derived by
:mod:`transforms.synthetic.generator`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np

Setting = Literal["infusion_centre", "emergency"]
StartRule = Literal["ed", "ed_night", "ic", "fixed"]
AdminKind = Literal["infusion", "push", "injection", "pump"]
T = TypeVar("T")

PUMP_MINUTES = 46 * 60


# --- small random helpers ----------------------------------------------------
def ri(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Uniform integer in ``[lo, hi]`` (both inclusive)."""
    return int(rng.integers(lo, hi + 1))


def pick(rng: np.random.Generator, seq: Sequence[T]) -> T:
    """One element of ``seq``, uniformly."""
    return seq[int(rng.integers(len(seq)))]


def chance(rng: np.random.Generator, p: float) -> bool:
    """True with probability ``p``."""
    return bool(rng.random() < p)


# --- time arithmetic of coding-rules section 0 -------------------------------
def addl_hours(t: int) -> int:
    """Add-on hour units (96361/96366/96415) of an initial or sequential service.

    Args:
        t: active minutes of the service.

    Returns:
        ``max(0, (t - 31) // 60)``: 91-150 min -> 1, 151-210 -> 2, ...
    """
    return max(0, (t - 31) // 60)


def secondary_hydration_units(h: int) -> int:
    """96361 units of hydration secondary to another initial service.

    Args:
        h: creditable hydration minutes of the encounter.

    Returns:
        ``(h - 31) // 60 + 1`` when ``h >= 31``, else 0.
    """
    return (h - 31) // 60 + 1 if h >= 31 else 0


def overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Minutes two half-open intervals ``[start, end)`` share."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def covered(window: tuple[int, int], intervals: Sequence[tuple[int, int]]) -> int:
    """Minutes of ``window`` covered by the union of ``intervals``."""
    clipped = sorted((max(s, window[0]), min(e, window[1])) for s, e in intervals)
    total, cur_s, cur_e = 0, None, None
    for s, e in clipped:
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    return total


# --- drugs ---------------------------------------------------------------------
@dataclass(frozen=True)
class Drug:
    """One charted drug (one MAR ``drug`` string) and its billing facts.

    Attributes:
        text: the MAR drug string, e.g. ``vancomycin 1,250 mg in sodium
            chloride 0.9 % 250 mL IVPB``.
        dose: dose per administration.
        dose_unit: unit of ``dose``.
        volume_ml: bag volume (infusions), else None.
        jcode: HCPCS Level II drug code billed on revenue code 0636/0258.
        j_per: dose per billing unit of ``jcode``.
        fluid: True for hydration fluids (revenue code 0258).
        chemo: True for chemotherapy/complex drugs (the ``JZ`` modifier).
    """

    text: str
    dose: float
    dose_unit: str
    volume_ml: float | None = None
    jcode: str | None = None
    j_per: float | None = None
    fluid: bool = False
    chemo: bool = False


# name -> (text template, doses, dose unit, bag volume, J-code, dose per unit)
_Entry = tuple[str, tuple[float, ...], str, float | None, str | None, float | None]
_PIGGYBACKS: dict[str, _Entry] = {
    "ceftriaxone": ("cefTRIAXone (ROCEPHIN) {d} g in sodium chloride 0.9 % 50 mL IVPB", (1, 2), "g", 50, "J0696", 0.25),
    "cefazolin": ("ceFAZolin (ANCEF) {d} g in sodium chloride 0.9 % 100 mL IVPB", (1, 2), "g", 100, "J0690", 0.5),
    "cefepime": ("cefepime (MAXIPIME) {d} g in sodium chloride 0.9 % 100 mL IVPB", (1, 2), "g", 100, "J0692", 0.5),
    "vancomycin": ("vancomycin {d} mg in sodium chloride 0.9 % 250 mL IVPB", (1000, 1250, 1500, 1750), "mg", 250,
                   "J3370", 500),
    "piperacillin_tazobactam": ("piperacillin-tazobactam (ZOSYN) {d} g in sodium chloride 0.9 % 100 mL IVPB",
                                (3.375, 4.5), "g", 100, "J2543", 1.125),
    "levofloxacin": ("levoFLOXacin (LEVAQUIN) {d} mg in dextrose 5 % 150 mL IVPB", (750,), "mg", 150, "J1956", 250),
    "azithromycin": ("azithromycin (ZITHROMAX) {d} mg in sodium chloride 0.9 % 250 mL IVPB", (500,), "mg", 250,
                     "J0456", 500),
    "metronidazole": ("metroNIDAZOLE (FLAGYL) {d} mg in sodium chloride 0.79 % 100 mL IVPB", (500,), "mg", 100,
                      None, None),
    "ampicillin_sulbactam": ("ampicillin-sulbactam (UNASYN) {d} g in sodium chloride 0.9 % 100 mL IVPB", (1.5, 3),
                             "g", 100, "J0295", 1.5),
    "meropenem": ("meropenem (MERREM) {d} g in sodium chloride 0.9 % 100 mL IVPB", (1, 2), "g", 100, "J2185", 0.1),
    "aztreonam": ("aztreonam (AZACTAM) {d} g in sodium chloride 0.9 % 100 mL IVPB", (1, 2), "g", 100, "S0073", 0.5),
    "famotidine_ivpb": ("famotidine (PEPCID) {d} mg in sodium chloride 0.9 % 50 mL IVPB", (20,), "mg", 50, None, None),
    "pantoprazole_ivpb": ("pantoprazole (PROTONIX) {d} mg in sodium chloride 0.9 % 100 mL IVPB", (40, 80), "mg", 100,
                          None, None),
    "magnesium": ("magnesium sulfate {d} g in water 50 mL IVPB", (2,), "g", 50, "J3475", 0.5),
    "potassium": ("potassium chloride {d} mEq in water 100 mL IVPB", (10,), "mEq", 100, "J3480", 2),
    "iron_sucrose": ("iron sucrose (VENOFER) {d} mg in sodium chloride 0.9 % 100 mL IVPB", (100, 200), "mg", 100,
                     "J1756", 1),
    "iron_sucrose_300": ("iron sucrose (VENOFER) {d} mg in sodium chloride 0.9 % 250 mL IVPB", (300,), "mg", 250,
                         "J1756", 1),
    "fosaprepitant": ("fosaprepitant (EMEND) {d} mg in sodium chloride 0.9 % 150 mL IVPB", (150,), "mg", 150,
                      "J1453", 1),
    "leucovorin": ("leucovorin calcium {d} mg in dextrose 5 % 250 mL IVPB", (600, 700, 800), "mg", 250, "J0640", 50),
    "levoleucovorin": ("levoleucovorin (FUSILEV) {d} mg in sodium chloride 0.9 % 250 mL IVPB", (300, 350, 400), "mg",
                       250, "J0641", 0.5),
    "acetaminophen": ("acetaminophen (OFIRMEV) {d} mg/100 mL IVPB", (1000,), "mg", 100, "J0131", 10),
}
_PUSHES: dict[str, _Entry] = {
    "ondansetron": ("ondansetron (ZOFRAN) injection {d} mg", (4, 8), "mg", None, "J2405", 1),
    "metoclopramide": ("metoclopramide (REGLAN) injection {d} mg", (10,), "mg", None, "J2765", 10),
    "prochlorperazine": ("prochlorperazine (COMPAZINE) injection {d} mg", (10,), "mg", None, "J0780", 10),
    "promethazine": ("promethazine (PHENERGAN) injection {d} mg", (12.5, 25), "mg", None, "J2550", 50),
    "famotidine": ("famotidine (PEPCID) injection {d} mg", (20,), "mg", None, None, None),
    "pantoprazole": ("pantoprazole (PROTONIX) injection {d} mg", (40,), "mg", None, None, None),
    "diphenhydramine": ("diphenhydrAMINE (BENADRYL) injection {d} mg", (25, 50), "mg", None, "J1200", 50),
    "dexamethasone": ("dexAMETHasone (DECADRON) injection {d} mg", (4, 10, 12), "mg", None, "J1100", 1),
    "methylprednisolone": ("methylPREDNISolone sodium succinate (SOLU-MEDROL) injection {d} mg", (40, 125), "mg",
                           None, "J2930", 125),
    "ketorolac": ("ketorolac (TORADOL) injection {d} mg", (15, 30), "mg", None, "J1885", 15),
    "morphine": ("morphine injection {d} mg", (2, 4), "mg", None, "J2270", 10),
    "hydromorphone": ("HYDROmorphone (DILAUDID) injection {d} mg", (0.5, 1), "mg", None, "J1170", 4),
    "fentanyl": ("fentaNYL (SUBLIMAZE) injection {d} mcg", (50, 100), "mcg", None, "J3010", 100),
    "lorazepam": ("LORazepam (ATIVAN) injection {d} mg", (1, 2), "mg", None, "J2060", 2),
    "furosemide": ("furosemide (LASIX) injection {d} mg", (20, 40), "mg", None, "J1940", 20),
    "labetalol": ("labetalol (NORMODYNE) injection {d} mg", (10, 20), "mg", None, None, None),
    "palonosetron": ("palonosetron (ALOXI) injection {d} mg", (0.25,), "mg", None, "J2469", 0.025),
    "iron_sucrose": ("iron sucrose (VENOFER) injection {d} mg", (100, 200), "mg", None, "J1756", 1),
}
_CHEMO_PUSHES: dict[str, _Entry] = {
    "doxorubicin": ("DOXOrubicin (ADRIAMYCIN) injection {d} mg", (70, 80, 90), "mg", None, "J9000", 10),
    "fluorouracil": ("fluorouracil (ADRUCIL) injection {d} mg", (700, 750, 800), "mg", None, "J9190", 500),
    "bortezomib": ("bortezomib (VELCADE) injection {d} mg", (2.2, 2.5, 2.6), "mg", None, "J9041", 0.1),
}
_CHEMO_INFUSIONS: dict[str, _Entry] = {
    "rituximab_abbs": ("riTUXimab-abbs (TRUXIMA) {d} mg in sodium chloride 0.9 % 500 mL infusion", (600, 700, 800),
                       "mg", 500, "Q5115", 10),
    "rituximab": ("riTUXimab (RITUXAN) {d} mg in sodium chloride 0.9 % 500 mL infusion", (600, 700, 800), "mg", 500,
                  "J9312", 10),
    "cyclophosphamide": ("cyclophosphamide (CYTOXAN) {d} mg in sodium chloride 0.9 % 250 mL", (1200, 1300, 1400),
                         "mg", 250, "J9070", 100),
    "vincristine": ("vinCRIStine (ONCOVIN) {d} mg in sodium chloride 0.9 % 50 mL", (2,), "mg", 50, "J9370", 1),
    "oxaliplatin": ("oxaliplatin (ELOXATIN) {d} mg in dextrose 5 % 500 mL", (130, 150, 170), "mg", 500, "J9263", 0.5),
    "fluorouracil_pump": ("fluorouracil (ADRUCIL) {d} mg in 46 h pump", (4000, 4400, 4800), "mg", 96, "J9190", 500),
    "carboplatin": ("CARBOplatin (PARAPLATIN) {d} mg in sodium chloride 0.9 % 250 mL", (450, 500, 600), "mg", 250,
                    "J9045", 50),
    "paclitaxel": ("PACLitaxel (TAXOL) {d} mg in sodium chloride 0.9 % 500 mL", (280, 300, 320), "mg", 500,
                   "J9267", 1),
    "gemcitabine": ("gemcitabine (GEMZAR) {d} mg in sodium chloride 0.9 % 250 mL", (1600, 1800, 2000), "mg", 250,
                    "J9201", 200),
    "docetaxel": ("DOCEtaxel (TAXOTERE) {d} mg in sodium chloride 0.9 % 250 mL", (120, 130, 140), "mg", 250,
                  "J9171", 1),
    "irinotecan": ("irinotecan (CAMPTOSAR) {d} mg in dextrose 5 % 500 mL", (300, 320, 350), "mg", 500, "J9206", 20),
    "pembrolizumab": ("pembrolizumab (KEYTRUDA) {d} mg in sodium chloride 0.9 % 100 mL", (200, 400), "mg", 100,
                      "J9271", 1),
    "nivolumab": ("nivolumab (OPDIVO) {d} mg in sodium chloride 0.9 % 100 mL", (240, 480), "mg", 100, "J9299", 1),
    "trastuzumab": ("trastuzumab (HERCEPTIN) {d} mg in sodium chloride 0.9 % 250 mL", (420, 600), "mg", 250,
                    "J9355", 10),
    "bevacizumab": ("bevacizumab (AVASTIN) {d} mg in sodium chloride 0.9 % 100 mL", (800, 1000), "mg", 100,
                    "J9035", 10),
    "infliximab": ("inFLIXimab (REMICADE) {d} mg in sodium chloride 0.9 % 250 mL", (400, 500, 600), "mg", 250,
                   "J1745", 10),
}
_INJECTIONS: dict[str, _Entry] = {
    "enoxaparin": ("enoxaparin (LOVENOX) injection {d} mg", (40,), "mg", None, "J1650", 10),
    "pegfilgrastim": ("pegfilgrastim (NEULASTA) injection {d} mg", (6,), "mg", None, "J2506", 0.5),
    "leuprolide_im": ("leuprolide (LUPRON DEPOT) injection {d} mg", (7.5, 22.5), "mg", None, "J1950", 3.75),
    "leuprolide_sc": ("leuprolide (ELIGARD) injection {d} mg", (7.5, 22.5, 45), "mg", None, "J9217", 7.5),
    "ketorolac_im": ("ketorolac (TORADOL) injection {d} mg", (30, 60), "mg", None, "J1885", 15),
    "ceftriaxone_im": ("cefTRIAXone (ROCEPHIN) injection {d} mg", (500, 1000), "mg", None, "J0696", 250),
}
_FLUIDS: dict[str, _Entry] = {
    "ns_bolus": ("sodium chloride 0.9 % bolus {d} mL", (1000,), "mL", 1000, "J7030", 1000),
    "ns_infusion": ("sodium chloride 0.9 % infusion {d} mL", (1000,), "mL", 1000, "J7030", 1000),
    "ns_500": ("sodium chloride 0.9 % infusion {d} mL", (500,), "mL", 500, "J7040", 500),
    "lr_bolus": ("lactated Ringer's bolus {d} mL", (1000,), "mL", 1000, "J7120", 1000),
    "lr_infusion": ("lactated Ringer's infusion {d} mL", (1000,), "mL", 1000, "J7120", 1000),
    "d5w": ("dextrose 5 % in water infusion {d} mL", (1000,), "mL", 1000, "J7070", 1000),
    "d5_half_ns": ("dextrose 5 %-sodium chloride 0.45 % infusion {d} mL", (1000,), "mL", 1000, "J7042", 500),
    "kvo": ("sodium chloride 0.9 % infusion {d} mL", (250,), "mL", 250, None, None),
}
# Components of a mixed bag: name -> (label, doses, unit, J-code, dose per unit)
_COMPONENTS: dict[str, tuple[str, tuple[float, ...], str, str | None, float | None]] = {
    "ondansetron": ("ondansetron (ZOFRAN)", (8,), "mg", "J2405", 1),
    "dexamethasone": ("dexAMETHasone (DECADRON)", (10, 12, 20), "mg", "J1100", 1),
    "palonosetron": ("palonosetron (ALOXI)", (0.25,), "mg", "J2469", 0.025),
    "metoclopramide": ("metoclopramide (REGLAN)", (10,), "mg", "J2765", 10),
    "diphenhydramine": ("diphenhydrAMINE (BENADRYL)", (25,), "mg", "J1200", 50),
    "famotidine": ("famotidine (PEPCID)", (20,), "mg", None, None),
}

ED_ABX: tuple[str, ...] = ("ceftriaxone", "cefazolin", "cefepime", "vancomycin", "piperacillin_tazobactam",
                           "levofloxacin", "azithromycin", "metronidazole", "ampicillin_sulbactam", "meropenem",
                           "aztreonam")
ANTIEMETICS: tuple[str, ...] = ("ondansetron", "metoclopramide", "prochlorperazine", "promethazine")
OPIOIDS: tuple[str, ...] = ("morphine", "hydromorphone", "fentanyl")
ED_PIV: tuple[str, ...] = ("L forearm PIV", "R forearm PIV", "R AC PIV", "L AC PIV", "R hand PIV")


def _fmt(d: float) -> str:
    return f"{int(d):,}" if float(d).is_integer() else f"{d:g}"


def _make(rng: np.random.Generator, entry: _Entry, *, fluid: bool = False, chemo: bool = False) -> Drug:
    tpl, doses, unit, vol, jcode, per = entry
    d = pick(rng, doses)
    return Drug(tpl.format(d=_fmt(d)), float(d), unit, vol, jcode, per, fluid, chemo)


def piggyback(rng: np.random.Generator, name: str) -> Drug:
    """A therapeutic small-volume infusion (IVPB) of catalogue entry ``name``."""
    return _make(rng, _PIGGYBACKS[name])


def push_drug(rng: np.random.Generator, name: str) -> Drug:
    """A therapeutic IV push drug."""
    return _make(rng, _PUSHES[name])


def chemo_push(rng: np.random.Generator, name: str) -> Drug:
    """A chemotherapy IV push drug."""
    return _make(rng, _CHEMO_PUSHES[name], chemo=True)


def chemo_infusion(rng: np.random.Generator, name: str) -> Drug:
    """A chemotherapy / complex drug infusion bag (or pump cassette)."""
    return _make(rng, _CHEMO_INFUSIONS[name], chemo=True)


def injection(rng: np.random.Generator, name: str) -> Drug:
    """An SC or IM injection."""
    return _make(rng, _INJECTIONS[name], chemo=name.startswith("leuprolide"))


def fluid(rng: np.random.Generator, name: str) -> Drug:
    """A hydration fluid bag (or a keep-vein-open bag for ``kvo``)."""
    return _make(rng, _FLUIDS[name], fluid=True)


def mixed_bag(rng: np.random.Generator, names: Sequence[str], volume: int = 50) -> tuple[Drug, ...]:
    """Components of ONE mixed bag: one charted drug string per component."""
    out = []
    for name in names:
        label, doses, unit, jcode, per = _COMPONENTS[name]
        d = pick(rng, doses)
        text = f"{label} {_fmt(d)} {unit} in sodium chloride 0.9 % {volume} mL IVPB"
        out.append(Drug(text, float(d), unit, float(volume), jcode, per))
    return tuple(out)


def nice_rate(volume_ml: float | None, minutes: int, floor: float = 0.0) -> float | None:
    """A charted pump rate (mL/h) that infuses ``volume_ml`` in ``minutes``."""
    if volume_ml is None or minutes <= 0:
        return None
    raw = volume_ml * 60.0 / minutes
    step = 25.0 if raw >= 100 else 5.0
    return float(max(floor, max(step, round(raw / step) * step)))


# --- administrations -----------------------------------------------------------
@dataclass(frozen=True)
class Admin:
    """One charted administration: an infusate (bag, pump) or a push/injection.

    Attributes:
        kind: ``infusion``, ``push`` (IV push, one ``given``), ``injection``
            (SC/IM, one ``given``) or ``pump``.
        drugs: the charted drug(s); several only for a mixed bag.
        start: minute of the start / given event.
        minutes: active minutes T (infusion, pump).
        route: contract route.
        rate: rate at start (mL/h).
        pauses: ``(active minute, paused minutes)`` pairs.
        rate_changes: ``(active minute, new rate)`` pairs; one at the active
            minute of a pause is charted on the resume row.
        site: access site; None -> the encounter's site (never for SC/IM).
        order: admins with the same key share one ``order_id`` (new bags,
            repeat doses); None -> an order of its own.
    """

    kind: AdminKind
    drugs: tuple[Drug, ...]
    start: int
    minutes: int = 0
    route: str = "iv_infusion"
    rate: float | None = None
    pauses: tuple[tuple[int, int], ...] = ()
    rate_changes: tuple[tuple[int, float], ...] = ()
    site: str | None = None
    order: str | None = None

    @property
    def clock(self) -> int:
        """Clock minutes from start to stop (active plus paused)."""
        return self.minutes + sum(p for _, p in self.pauses)

    @property
    def end(self) -> int:
        """Minute of the stop event (the given minute for pushes)."""
        return self.start + self.clock

    def events(self) -> list[tuple[int, str, float | None]]:
        """Charted events as ``(minute, action, rate after the event)``."""
        if self.kind in ("push", "injection"):
            return [(self.start, "given", None)]
        out: list[tuple[int, str, float | None]] = [(self.start, "start", self.rate)]
        pause_at = {a: p for a, p in self.pauses}
        changes = {a: r for a, r in self.rate_changes}
        paused = 0
        rate = self.rate
        for a in sorted(set(pause_at) | set(changes)):
            if a in pause_at:
                pos = self.start + a + paused
                out.append((pos, "pause", None))
                paused += pause_at[a]
                rate = changes.get(a, rate)
                out.append((pos + pause_at[a], "resume", rate))
            else:
                rate = changes[a]
                out.append((self.start + a + paused, "rate_change", rate))
        out.append((self.end, "stop", None))
        return out


def infusion(drugs: Drug | tuple[Drug, ...], start: int, minutes: int, *, route: str = "iv_infusion",
             rate: float | None = None, pauses: tuple[tuple[int, int], ...] = (),
             rate_changes: tuple[tuple[int, float], ...] = (), site: str | None = None,
             order: str | None = None, floor: float = 0.0) -> Admin:
    """An infusion (a bag; a tuple of drugs is a mixed bag)."""
    ds = drugs if isinstance(drugs, tuple) else (drugs,)
    if rate is None:
        rate = nice_rate(ds[0].volume_ml, minutes, floor)
        if rate is not None and ds[0].fluid:
            rate = min(rate, 999.0)             # pump maximum for a bolus
    return Admin("infusion", ds, start, minutes, route, rate, pauses, rate_changes, site, order)


def push(drug: Drug, at: int, *, order: str | None = None) -> Admin:
    """An IV push (one ``given`` event on route ``iv_push``)."""
    return Admin("push", (drug,), at, route="iv_push", order=order)


def inject(drug: Drug, at: int, route: str, *, order: str | None = None) -> Admin:
    """An SC or IM injection (one ``given`` event)."""
    return Admin("injection", (drug,), at, route=route, order=order)


def pump(drug: Drug, at: int, *, site: str = "port") -> Admin:
    """A 46 h ambulatory chemo pump started at ``at``."""
    return Admin("pump", (drug,), at, PUMP_MINUTES, "pump", 2.0, site=site)


# --- lines and scenarios -------------------------------------------------------
class Lines:
    """Drug-administration lines of one encounter: code -> units (and minute)."""

    def __init__(self) -> None:
        self.units: dict[str, int] = {}
        self.at: dict[str, int] = {}

    def add(self, code: str, units: int, at: int) -> Lines:
        """Add ``units`` of ``code`` for a service starting at minute ``at``."""
        if units > 0:
            self.units[code] = self.units.get(code, 0) + units
            self.at[code] = min(self.at.get(code, at), at)
        return self

    def set(self, code: str, units: int, at: int | None = None) -> Lines:
        """Set ``code`` to ``units`` (0 removes the line)."""
        if units <= 0:
            self.units.pop(code, None)
            self.at.pop(code, None)
        else:
            self.units[code] = units
            self.at[code] = self.at.get(code, 0) if at is None else at
        return self

    def copy(self) -> Lines:
        """An independent copy."""
        out = Lines()
        out.units = dict(self.units)
        out.at = dict(self.at)
        return out

    def shifted(self, minutes: int) -> Lines:
        """A copy with every minute moved by ``minutes``."""
        out = self.copy()
        out.at = {c: a + minutes for c, a in out.at.items()}
        return out

    def render(self) -> str:
        """``96365x1;96368x1``: codes sorted, zero-unit codes left out."""
        return ";".join(f"{c}x{u}" for c, u in sorted(self.units.items()) if u > 0)


@dataclass
class Scenario:
    """One encounter built by a template.

    Attributes:
        name: ``template:variant``, written to ``truth.scenario``.
        setting: ``infusion_centre`` or ``emergency``.
        admins: what is charted.
        correct: the lines the encounter supports (default facility policy).
        site: the encounter's vascular access.
        variants: template-specific billing errors: key -> billed lines.
        mixed_bag_at: start minute of a mixed drug bag, if any.
        hydration_overlap: True when hydration ran while a drug infused (the
            audit then reads an over-billed 96361 as hydration_during_drug).
        start_rule: how the generator places the encounter in the day.
        fixed_local: local (hour, minute) of the first event for ``fixed``.
        extra: other claim lines: (hcpcs, units, revenue code, modifiers).
    """

    name: str
    setting: Setting
    admins: list[Admin]
    correct: Lines
    site: str | None
    variants: dict[str, Lines] = field(default_factory=dict)
    mixed_bag_at: int | None = None
    hydration_overlap: bool = False
    start_rule: StartRule = "ed"
    fixed_local: tuple[int, int] | None = None
    extra: list[tuple[str, int, str, str | None]] = field(default_factory=list)

    def normalised(self) -> Scenario:
        """The same scenario with the earliest event at minute 0."""
        first = min(a.start for a in self.admins)
        if first == 0:
            return self
        moved = [Admin(a.kind, a.drugs, a.start - first, a.minutes, a.route, a.rate, a.pauses, a.rate_changes,
                       a.site, a.order) for a in self.admins]
        return Scenario(self.name, self.setting, moved, self.correct.shifted(-first), self.site,
                        {k: v.shifted(-first) for k, v in self.variants.items()},
                        None if self.mixed_bag_at is None else self.mixed_bag_at - first,
                        self.hydration_overlap, self.start_rule, self.fixed_local, self.extra)

    @property
    def span(self) -> int:
        """Minutes from the first event to the last one (pump stops excluded)."""
        ends = [a.start if a.kind == "pump" else a.end for a in self.admins]
        return max(ends) - min(a.start for a in self.admins)


Template = Callable[[np.random.Generator], Scenario]


# =============================================================================
# Emergency department templates
# =============================================================================
def _abx_push_ns_timing(rng: np.random.Generator, variant: str, fl: Drug, ta: int
                        ) -> tuple[list[Admin], int, int, list[tuple[int, int]]]:
    """The bolus of :func:`ed_abx_push_ns` in its ``variant``: the fluid's admin, the
    piggyback's start ``a``, the push minute ``p`` and the bolus runs (minutes)."""
    admins: list[Admin] = []
    if variant == "overlap":
        hc = ri(rng, 45, 150)
        a = ri(rng, 5, hc - 10)
        p = ri(rng, 2, 15)
        runs = [(0, hc)]
        admins.append(infusion(fl, 0, hc, floor=100))
    elif variant == "paused":
        h1 = ri(rng, 15, 60)
        a = h1 + ri(rng, 0, 5)
        gap = a - h1 + ta + ri(rng, 0, 10)
        h2 = ri(rng, 10, 60)
        p = ri(rng, 1, h1 - 1)
        runs = [(0, h1), (h1 + gap, h1 + gap + h2)]
        admins.append(infusion(fl, 0, h1 + h2, pauses=((h1, gap),), rate=nice_rate(1000, h1 + h2, 100)))
    else:
        p = 0
        a = ri(rng, 5, 25)
        h0 = ri(rng, 2, a + 20)
        hc = ri(rng, 30, 120)
        runs = [(h0, h0 + hc)]
        admins.append(infusion(fl, h0, hc, floor=100))
    return admins, a, p, runs


def ed_abx_push_ns(rng: np.random.Generator) -> Scenario:
    """Antibiotic piggyback, antiemetic push and an NS/LR bolus before/after.

    Variants: ``overlap`` (bolus running while the piggyback infuses),
    ``paused`` (bolus paused during the piggyback, resumed after: the runs add
    up), ``push_first`` (push, then the piggyback, then fluid overlapping).
    """
    site = pick(rng, ED_PIV)
    abx = piggyback(rng, pick(rng, ED_ABX))
    em = push_drug(rng, pick(rng, ANTIEMETICS))
    fl = fluid(rng, pick(rng, ("ns_bolus", "ns_bolus", "lr_bolus")))
    ta = ri(rng, 20, 75)
    variant = pick(rng, ("overlap", "paused", "push_first"))
    admins, a, p, runs = _abx_push_ns_timing(rng, variant, fl, ta)
    admins.append(infusion(abx, a, ta))
    admins.append(push(em, p))
    drug = (a, a + ta)
    ov = sum(overlap(r, drug) for r in runs)
    hc_total = sum(e - s for s, e in runs)
    h = hc_total - ov
    h_start = runs[0][0]

    c = Lines()
    c.add("96365", 1, a)                      # piggyback: initial therapeutic infusion
    c.add("96366", addl_hours(ta), a)
    c.add("96375", 1, p)                      # antiemetic: push of a new drug
    c.add("96361", secondary_hydration_units(h), h_start)   # hydration secondary, runs added up
    variants: dict[str, Lines] = {}
    if ov > 0 and secondary_hydration_units(hc_total) != secondary_hydration_units(h):
        variants["hydration_during_drug"] = c.copy().set("96361", secondary_hydration_units(hc_total), h_start)
    if p < a and p < h_start:
        w = Lines().add("96374", 1, p).add("96367", 1, a).add("96366", addl_hours(ta), a)
        w.add("96361", secondary_hydration_units(h), h_start)
        variants["initial_wrong_family"] = w
    elif h_start < min(a, p) and h >= 31:
        w = Lines().add("96360", 1, h_start).add("96361", addl_hours(h), h_start)
        w.add("96367", 1, a).add("96366", addl_hours(ta), a).add("96375", 1, p)
        variants["initial_wrong_family"] = w
    return Scenario(f"ed_abx_push_ns:{variant}", "emergency", admins, c, site, variants,
                    hydration_overlap=ov > 0)


def _pain_hydration(rng: np.random.Generator, admins: list[Admin], c: Lines, ap: tuple[int, int] | None,
                    new_pushes: int) -> tuple[dict[str, Lines], bool]:
    """The optional hydration of :func:`ed_pain_pushes` (appended to ``admins`` and
    ``c``; ``ap``: the acetaminophen infusion's minutes, not creditable): the
    wrong-coding variants it opens and whether it overlapped a drug."""
    variants: dict[str, Lines] = {}
    hyd_overlap = False
    if chance(rng, 0.5):
        h0 = pick(rng, (ri(rng, -40, -5), ri(rng, 1, 15)))
        hc = ri(rng, 20, 240)
        admins.append(infusion(fluid(rng, pick(rng, ("ns_bolus", "lr_bolus", "ns_infusion"))), h0, hc, floor=100))
        ov = overlap((h0, h0 + hc), ap) if ap else 0
        hyd_overlap = ov > 0
        h = hc - ov                           # acetaminophen infusing: not creditable
        c.add("96361", secondary_hydration_units(h), h0)
        if ov > 0 and secondary_hydration_units(hc) != secondary_hydration_units(h):
            variants["hydration_during_drug"] = c.copy().set("96361", secondary_hydration_units(hc), h0)
        if h0 < 0 and h >= 31:
            # hydration charted first and wrongly made the initial service
            w = Lines().add("96360", 1, h0).add("96361", addl_hours(h), h0)
            w.add("96375", 1 + new_pushes, 0)
            if "96376" in c.units:
                w.add("96376", c.units["96376"], c.at["96376"])
            variants["initial_wrong_family"] = w
    return variants, hyd_overlap


def ed_pain_pushes(rng: np.random.Generator) -> Scenario:
    """Opioid pushes with a repeat dose: 96376 only > 30 min after the last reported push.

    Variants: ``repeat_gt30`` (96374 + 96376), ``repeat_le30`` (96374 only),
    ``repeat_three`` (second dose <= 30 min: nothing; third > 30 min after the
    first, the last reported push: 96376). Optional antiemetic push, optional
    15-minute acetaminophen infusion (a push: 96375; its minutes are not
    creditable hydration) and optional hydration (secondary; may start first).
    """
    site = pick(rng, ED_PIV)
    op_name = pick(rng, OPIOIDS)
    op = push_drug(rng, op_name)
    variant = pick(rng, ("repeat_gt30", "repeat_le30", "repeat_three"))
    if variant == "repeat_gt30":
        doses = [0, pick(rng, (31, ri(rng, 32, 180)))]
    elif variant == "repeat_le30":
        doses = [0, pick(rng, (30, ri(rng, 5, 29)))]
    else:
        g1 = ri(rng, 10, 25)
        doses = [0, g1, ri(rng, 31, g1 + 30)]
    admins = [push(op, d, order="op") for d in doses]
    c = Lines()
    c.add("96374", 1, 0)                      # first opioid push: initial therapeutic push
    if variant == "repeat_gt30":
        c.add("96376", 1, doses[1])           # same drug > 30 min later
    elif variant == "repeat_three":
        c.add("96376", 1, doses[2])           # > 30 min after the last REPORTED push (minute 0)
    new_pushes = 0
    q = -1
    if chance(rng, 0.6):
        q = ri(rng, 1, 20)
        admins.append(push(push_drug(rng, pick(rng, ANTIEMETICS)), q))
        c.add("96375", 1, q)
        new_pushes += 1
    ap: tuple[int, int] | None = None
    if chance(rng, 0.3):
        r = ri(rng, 5, 60)
        t_ap = pick(rng, (15, ri(rng, 10, 14)))
        admins.append(infusion(piggyback(rng, "acetaminophen"), r, t_ap))
        ap = (r, r + t_ap)
        c.add("96375", 1, r)                  # T <= 15: a push of a new drug
        new_pushes += 1
    variants, hyd_overlap = _pain_hydration(rng, admins, c, ap, new_pushes)
    return Scenario(f"ed_pain_pushes:{variant}", "emergency", admins, c, site, variants,
                    hydration_overlap=hyd_overlap)


def ed_hydration_only(rng: np.random.Generator) -> Scenario:
    """Hydration alone: < 31 min nothing, 96360 (+96361 by the initial formula).

    Variants: ``short`` (10-30 min), ``one_hour`` (31-90), ``long`` (91-300,
    rate changes), ``two_bags`` (consecutive bags add up), ``paused`` (paused
    minutes do not count).
    """
    site = pick(rng, ED_PIV)
    name = pick(rng, ("ns_bolus", "ns_infusion", "lr_bolus", "lr_infusion", "d5_half_ns", "d5w"))
    variant = pick(rng, ("short", "one_hour", "long", "long", "two_bags", "paused"))
    fl = fluid(rng, name)
    if variant == "short":
        h = pick(rng, (30, ri(rng, 10, 29)))
        admins = [infusion(fl, 0, h, floor=100)]
    elif variant == "one_hour":
        h = pick(rng, (31, 90, ri(rng, 32, 89)))
        admins = [infusion(fl, 0, h, floor=100)]
    elif variant == "long":
        h = pick(rng, (91, ri(rng, 92, 300)))
        rate = nice_rate(1000, h, 100) or 125.0
        admins = [infusion(fl, 0, h, rate=rate, rate_changes=((ri(rng, 20, h - 20), max(100.0, rate - 25)),))]
    elif variant == "two_bags":
        b1, b2 = ri(rng, 45, 120), ri(rng, 30, 120)
        s2 = b1 + ri(rng, 0, 5)
        admins = [infusion(fl, 0, b1, order="fluid", floor=100), infusion(fl, s2, b2, order="fluid", floor=100)]
        h = b1 + b2                            # the same fluid in a new bag: minutes add
    else:
        r1, pz, r2 = ri(rng, 20, 60), ri(rng, 10, 45), ri(rng, 20, 90)
        admins = [infusion(fl, 0, r1 + r2, pauses=((r1, pz),), floor=100)]
        h = r1 + r2                            # paused minutes excluded
    c = Lines()
    if h >= 31:
        c.add("96360", 1, 0).add("96361", addl_hours(h), 0)
    return Scenario(f"ed_hydration_only:{variant}", "emergency", admins, c, site)


def ed_two_abx_sequential(rng: np.random.Generator) -> Scenario:
    """Two antibiotics one after the other (or overlapping < 16 min): 96365 + 96367.

    Optional hydration running across both (its overlap with the drugs is not
    creditable; it may start before the first drug).
    """
    site = pick(rng, ED_PIV)
    k1 = pick(rng, ED_ABX)
    k2 = pick(rng, [k for k in ED_ABX if k != k1])
    d1, d2 = piggyback(rng, k1), piggyback(rng, k2)
    t1 = ri(rng, 20, 60)
    if chance(rng, 0.6):
        s2 = t1 + ri(rng, 0, 30)
        variant = "gap"
    else:
        s2 = t1 - pick(rng, (15, ri(rng, 1, 14)))
        variant = "overlap_lt16"
    t2 = ri(rng, 20, 120)
    admins = [infusion(d1, 0, t1), infusion(d2, s2, t2)]
    c = Lines()
    c.add("96365", 1, 0).add("96366", addl_hours(t1), 0)       # first drug: initial
    c.add("96367", 1, s2).add("96366", addl_hours(t2), s2)     # new drug, not concurrent: sequential
    variants: dict[str, Lines] = {}
    hyd_overlap = False
    if chance(rng, 0.4):
        variant += "+fluid"
        hs = -ri(rng, 10, 60)
        he = s2 + t2 + ri(rng, -10, 45)
        admins.append(infusion(fluid(rng, pick(rng, ("ns_infusion", "lr_infusion"))), hs, he - hs, floor=100))
        hc = he - hs
        h = hc - covered((hs, he), [(0, t1), (s2, s2 + t2)])
        hyd_overlap = True
        c.add("96361", secondary_hydration_units(h), hs)
        if secondary_hydration_units(hc) != secondary_hydration_units(h):
            variants["hydration_during_drug"] = c.copy().set("96361", secondary_hydration_units(hc), hs)
        if h >= 31:
            w = Lines().add("96360", 1, hs).add("96361", addl_hours(h), hs)
            w.add("96367", 2, 0).add("96366", addl_hours(t1) + addl_hours(t2), 0)
            variants["initial_wrong_family"] = w
    return Scenario(f"ed_two_abx_sequential:{variant}", "emergency", admins, c, site, variants,
                    hydration_overlap=hyd_overlap)


def ed_two_abx_concurrent(rng: np.random.Generator) -> Scenario:
    """Two piggybacks from separate bags overlapping >= 16 min: 96365 + 96368."""
    site = pick(rng, ED_PIV)
    ka = pick(rng, ("vancomycin", "vancomycin", "levofloxacin", "azithromycin", "metronidazole"))
    kb = pick(rng, [k for k in ED_ABX if k != ka])
    ta = ri(rng, 40, 180)
    if chance(rng, 0.25):
        variant = "overlap_16"
        s = ta - 16
        tb = ri(rng, 16, 60)                   # overlap = min(ta - s, tb) = 16
    else:
        variant = "overlap"
        s = ri(rng, 1, min(30, ta - 16))
        tb = ri(rng, 20, 60)                   # overlap = min(ta - s, tb) >= 16
    admins = [infusion(piggyback(rng, ka), 0, ta), infusion(piggyback(rng, kb), s, tb)]
    c = Lines()
    c.add("96365", 1, 0).add("96366", addl_hours(ta), 0)       # earliest start: initial
    c.add("96368", 1, s)                                       # separate bag overlapping it
    return Scenario(f"ed_two_abx_concurrent:{variant}", "emergency", admins, c, site)


def ed_multilumen_three(rng: np.random.Generator) -> Scenario:
    """Three drugs in three piggybacks at once via one multi-lumen CVC (Ex 28/30).

    One site (lumens of one catheter), one initial (the earliest start),
    96368 once, the third drug earns nothing.
    """
    cath = pick(rng, ("R IJ CVC", "L subclavian CVC", "R femoral CVC"))
    ta = ri(rng, 60, 180)
    sb = ri(rng, 1, 5)
    sc = sb + ri(rng, 1, 5)
    a = piggyback(rng, "vancomycin")
    b = piggyback(rng, pick(rng, ("cefepime", "piperacillin_tazobactam", "meropenem", "aztreonam")))
    d = piggyback(rng, pick(rng, ("metronidazole", "azithromycin", "levofloxacin")))
    tb, tc = ri(rng, 25, 45), ri(rng, 30, 70)
    admins = [infusion(a, 0, ta, site=f"{cath} lumen 1"), infusion(b, sb, tb, site=f"{cath} lumen 2"),
              infusion(d, sc, tc, site=f"{cath} lumen 3")]
    c = Lines()
    c.add("96365", 1, 0).add("96366", addl_hours(ta), 0)       # vancomycin: earliest start
    c.add("96368", 1, sb)                                      # once, whatever the number of drugs
    return Scenario("ed_multilumen_three:separate_bags", "emergency", admins, c, f"{cath} lumen 1")


def ed_three_in_one_bag(rng: np.random.Generator) -> Scenario:
    """The same kind of three drugs mixed in ONE bag: one administration, never 96368."""
    site = pick(rng, ED_PIV)
    trio = pick(rng, (("metoclopramide", "diphenhydramine", "dexamethasone"),
                      ("ondansetron", "famotidine", "dexamethasone")))
    bag = mixed_bag(rng, trio, volume=pick(rng, (50, 100)))
    t = pick(rng, (ri(rng, 20, 60), ri(rng, 91, 140)))
    s = ri(rng, 0, 10)
    admins = [infusion(bag, s, t)]
    c = Lines()
    c.add("96365", 1, s).add("96366", addl_hours(t), s)        # one bag = one infusion
    variant = "bag"
    if chance(rng, 0.5):
        admins.append(push(push_drug(rng, "ketorolac"), 0))
        c.add("96375", 1, 0)
        variant = "bag+push"
    return Scenario(f"ed_three_in_one_bag:{variant}", "emergency", admins, c, site, mixed_bag_at=s)


def ed_push_then_infusion(rng: np.random.Generator) -> Scenario:
    """A push charted first, then a piggyback: the infusion is still initial."""
    site = pick(rng, ED_PIV)
    pd_name = pick(rng, ("ondansetron", "ketorolac", "famotidine", "pantoprazole", "diphenhydramine", "morphine",
                         "metoclopramide", "lorazepam", "furosemide", "methylprednisolone"))
    inf_name = pick(rng, ED_ABX + ("magnesium", "potassium"))
    d = ri(rng, 3, 40)
    t = ri(rng, 20, 120)
    admins = [push(push_drug(rng, pd_name), 0), infusion(piggyback(rng, inf_name), d, t)]
    c = Lines()
    c.add("96365", 1, d).add("96366", addl_hours(t), d)        # hierarchy: infusion > push
    c.add("96375", 1, 0)
    w = Lines().add("96374", 1, 0).add("96367", 1, d).add("96366", addl_hours(t), d)
    return Scenario("ed_push_then_infusion:push_first", "emergency", admins, c, site,
                    {"initial_wrong_family": w})


def ed_same_drug_two_bags(rng: np.random.Generator) -> Scenario:
    """The same drug in consecutive bags: minutes add up (96366), never 96367."""
    site = pick(rng, ED_PIV)
    name = pick(rng, ("vancomycin", "magnesium", "potassium", "potassium"))
    drug = piggyback(rng, name)
    if name == "vancomycin":
        lens = [ri(rng, 50, 90), ri(rng, 50, 90)]
    elif name == "magnesium":
        lens = [ri(rng, 55, 65), ri(rng, 55, 65)]
    else:
        lens = [ri(rng, 55, 65) for _ in range(pick(rng, (2, 2, 3)))]
    variant = "consecutive"
    starts = [0]
    for i in range(1, len(lens)):
        if name == "vancomycin" and chance(rng, 0.3):
            starts.append(starts[-1] + lens[i - 1] - ri(rng, 1, 5))   # new bag hung before the old one ended
            variant = "overlapping"
        else:
            starts.append(starts[-1] + lens[i - 1] + ri(rng, 0, 10))
    admins = [infusion(drug, s, n, order="rx") for s, n in zip(starts, lens, strict=True)]
    ivs = [(s, s + n) for s, n in zip(starts, lens, strict=True)]
    t = covered((ivs[0][0], ivs[-1][1]), ivs)  # union: overlap of two bags counted once
    c = Lines()
    c.add("96365", 1, 0).add("96366", addl_hours(t), 0)
    w = Lines().add("96365", 1, 0).add("96366", addl_hours(lens[0]), 0)
    for s, n in zip(starts[1:], lens[1:], strict=True):
        w.add("96367", 1, s).add("96366", addl_hours(n), s)
    return Scenario(f"ed_same_drug_two_bags:{name}:{variant}", "emergency", admins, c, site,
                    {"sequential_same_drug": w})


def ed_pause_rate_change(rng: np.random.Generator) -> Scenario:
    """An infusion paused (reaction) and resumed slower; paused minutes do not count.

    Vancomycin infusion reaction: paused, diphenhydramine pushed during the
    pause, resumed at a lower rate. T = active minutes only.
    """
    site = pick(rng, ED_PIV)
    name = pick(rng, ("vancomycin", "vancomycin", "potassium", "levofloxacin"))
    drug = piggyback(rng, name)
    t = pick(rng, (ri(rng, 61, 90), ri(rng, 91, 150)))
    a = ri(rng, 15, t - 15)
    pz = ri(rng, 10, 40)
    rate = nice_rate(drug.volume_ml, t) or 100.0
    slower = max(25.0, rate / 2)
    changes: tuple[tuple[int, float], ...] = ((a, slower),)
    if t - a > 25:
        changes += ((a + ri(rng, 10, t - a - 10), rate),)
    admins = [infusion(drug, 0, t, rate=rate, pauses=((a, pz),), rate_changes=changes)]
    q = a + ri(rng, 1, pz - 1)
    admins.append(push(push_drug(rng, "diphenhydramine"), q))
    c = Lines()
    c.add("96365", 1, 0).add("96366", addl_hours(t), 0)        # T excludes the pause
    c.add("96375", 1, q)
    return Scenario(f"ed_pause_rate_change:{name}", "emergency", admins, c, site)


def ed_overnight_ex1(rng: np.random.Generator) -> Scenario:
    """Coding-rules Ex 1 exactly: NS 22:00-06:30 (510 min), morphine 22:20 and 02:00.

    96374 + 96361 x8 (secondary: (510 - 31) // 60 + 1) + 96376; one initial
    across midnight. Clock times hold on a day without a DST change.
    """
    site = pick(rng, ED_PIV)
    mor = push_drug(rng, "morphine")
    admins = [infusion(fluid(rng, "ns_infusion"), 0, 510, rate=125.0, rate_changes=((240, 100.0),)),
              push(mor, 20, order="mor"), push(mor, 240, order="mor")]
    c = Lines().add("96374", 1, 20).add("96361", secondary_hydration_units(510), 0).add("96376", 1, 240)
    w = Lines().add("96360", 1, 0).add("96361", addl_hours(510), 0).add("96375", 1, 20).add("96376", 1, 240)
    return Scenario("ed_overnight_obs:ex1", "emergency", admins, c, site, {"initial_wrong_family": w},
                    start_rule="fixed", fixed_local=(22, 0), extra=[("G0378", 9, "0762", None)])


def ed_overnight_obs(rng: np.random.Generator) -> Scenario:
    """ED + observation across midnight: one encounter, one initial service.

    Hydration (one or two bags) all night, an opioid pushed on arrival and
    again after midnight (96376), optionally an antiemetic push (96375) and
    SC enoxaparin in the morning (96372).
    """
    site = pick(rng, ED_PIV)
    fl_name = pick(rng, ("ns_infusion", "lr_infusion", "d5_half_ns"))
    h = ri(rng, 300, 600)
    admins: list[Admin] = []
    if chance(rng, 0.5):
        b1 = ri(rng, 240, h - 60)
        f = fluid(rng, fl_name)
        admins += [infusion(f, 0, b1, rate=125.0, order="ivf"), infusion(f, b1, h - b1, rate=125.0, order="ivf")]
        variant = "two_bags"
    else:
        admins.append(infusion(fluid(rng, fl_name), 0, h, rate=pick(rng, (100.0, 125.0, 150.0))))
        variant = "one_bag"
    op = push_drug(rng, pick(rng, OPIOIDS))
    p1 = ri(rng, 5, 40)
    p2 = p1 + ri(rng, 120, 300)
    admins += [push(op, p1, order="op"), push(op, p2, order="op")]
    c = Lines()
    pushes = [p1]
    if chance(rng, 0.6):
        q = p1 + pick(rng, (-1, 1)) * ri(rng, 1, 4)
        admins.append(push(push_drug(rng, pick(rng, ANTIEMETICS)), q))
        pushes.append(q)
    first = min(pushes)
    c.add("96374", 1, first)                   # earliest push: initial (hydration ranks lowest)
    c.add("96375", len(pushes) - 1, max(pushes))
    c.add("96376", 1, p2)                      # same opioid > 30 min after its last push
    c.add("96361", secondary_hydration_units(h), 0)
    w = Lines().add("96360", 1, 0).add("96361", addl_hours(h), 0).add("96375", len(pushes), first)
    w.add("96376", 1, p2)
    if chance(rng, 0.5):
        e = ri(rng, 420, 600)
        admins.append(inject(injection(rng, "enoxaparin"), e, "sc_injection"))
        c.add("96372", 1, e)
        w.add("96372", 1, e)
        variant += "+enoxaparin"
    obs_hours = max(8, (max(a.end for a in admins) + 59) // 60)
    return Scenario(f"ed_overnight_obs:{variant}", "emergency", admins, c, site, {"initial_wrong_family": w},
                    start_rule="ed_night", extra=[("G0378", obs_hours, "0762", None)])


def ed_sc_injection(rng: np.random.Generator) -> Scenario:
    """SC/IM injections (96372 each); they never decide the initial IV service."""
    site = pick(rng, ED_PIV)
    names = pick(rng, (("enoxaparin",), ("ketorolac_im",), ("ceftriaxone_im",), ("ceftriaxone_im", "ketorolac_im")))
    admins: list[Admin] = []
    c = Lines()
    t = ri(rng, 0, 20)
    for n in names:
        route = "sc_injection" if n == "enoxaparin" else "im_injection"
        admins.append(inject(injection(rng, n), t, route))
        c.add("96372", 1, t)
        t += ri(rng, 3, 30)
    variant = "+".join(names)
    if chance(rng, 0.4):
        h = ri(rng, 20, 150)
        admins.append(infusion(fluid(rng, pick(rng, ("ns_bolus", "lr_bolus"))), 0, h, floor=100))
        if h >= 31:                            # hydration stays the initial IV service
            c.add("96360", 1, 0).add("96361", addl_hours(h), 0)
        variant += "+fluid"
    return Scenario(f"ed_sc_injection:{variant}", "emergency", admins, c, site)


# =============================================================================
# Infusion centre templates
# =============================================================================
def _ic_site(rng: np.random.Generator) -> str:
    return pick(rng, ("port", "port", "port", "L forearm PIV", "R forearm PIV"))


def ic_iron_sucrose(rng: np.random.Generator) -> Scenario:
    """Iron sucrose by push, by a 15/16-minute boundary infusion, or 90-120 min.

    Optional keep-vein-open NS (<= 30 mL/h) before and after: never hydration.
    """
    site = pick(rng, ("L forearm PIV", "R forearm PIV", "R AC PIV"))
    variant = pick(rng, ("push", "infusion_15", "infusion_16", "infusion", "long"))
    admins: list[Admin] = []
    c = Lines()
    if variant == "push":
        admins.append(push(push_drug(rng, "iron_sucrose"), 0))
        c.add("96374", 1, 0)
        t = 0
    else:
        if variant == "infusion_15":
            t = pick(rng, (15, ri(rng, 10, 14)))
        elif variant == "infusion_16":
            t = 16
        elif variant == "infusion":
            t = ri(rng, 17, 45)
        else:
            t = pick(rng, (90, 91, ri(rng, 92, 120)))
        drug = piggyback(rng, "iron_sucrose_300" if variant == "long" else "iron_sucrose")
        admins.append(infusion(drug, 0, t))
        if t <= 15:
            c.add("96374", 1, 0)               # 15 min or less: a push
        else:
            c.add("96365", 1, 0).add("96366", addl_hours(t), 0)
    if chance(rng, 0.4):
        k0 = -ri(rng, 10, 25)
        k1 = t + ri(rng, 10, 25)
        admins.append(infusion(fluid(rng, "kvo"), k0, k1 - k0, rate=float(pick(rng, (10, 20, 25, 30)))))
        variant += "+kvo"
    return Scenario(f"ic_iron_sucrose:{variant}", "infusion_centre", admins, c, site, start_rule="ic")


def ic_rituximab(rng: np.random.Generator) -> Scenario:
    """Rituximab day: premed pushes, optional premed mixed bag, optional Pepcid overlap.

    Rituximab 3-5.5 h with rate escalation: 96413 + 96415 x N. The premed bag
    (ondansetron + dexamethasone in NS 50 mL) is one push (<= 15 min, 96375)
    or a sequential infusion (>= 16 min, 96367). Famotidine IVPB inside the
    rituximab run is concurrent (96368).
    """
    site = _ic_site(rng)
    with_bag = chance(rng, 0.5)
    with_pepcid = chance(rng, 0.5)
    push_names = ["diphenhydramine"]
    if with_bag:
        if chance(rng, 0.5):
            push_names.append("methylprednisolone")
    else:
        pool = ["ondansetron", "methylprednisolone"] + ([] if with_pepcid else ["famotidine"])
        push_names += [n for n in pool if chance(rng, 0.6)] or ["ondansetron"]
    admins: list[Admin] = []
    t_push = 0
    for n in push_names:
        admins.append(push(push_drug(rng, n), t_push))
        t_push += ri(rng, 0, 3)
    c = Lines()
    c.add("96375", len(push_names), 0)         # each premed push of a new drug
    nxt = t_push + ri(rng, 2, 8)
    b0 = -1
    variant = "pushes"
    bag_push = 0
    if with_bag:
        b0 = nxt
        tb = pick(rng, (ri(rng, 10, 15), ri(rng, 16, 30)))
        admins.append(infusion(mixed_bag(rng, ("ondansetron", "dexamethasone")), b0, tb))
        if tb <= 15:
            c.add("96375", 1, b0)              # the bag is one push
            bag_push = 1
        else:
            c.add("96367", 1, b0).add("96366", addl_hours(tb), b0)
        nxt = b0 + tb
        variant = f"bag_{tb}min"
    r0 = nxt + ri(rng, 5, 20)
    tr = ri(rng, 180, 330)
    rx = chemo_infusion(rng, pick(rng, ("rituximab_abbs", "rituximab")))
    admins.append(infusion(rx, r0, tr, rate=25.0, rate_changes=((30, 50.0), (60, 75.0), (90, 100.0))))
    c.add("96413", 1, r0).add("96415", addl_hours(tr), r0)
    if with_pepcid:
        f0 = r0 + ri(rng, 30, 120)
        tf = ri(rng, 20, 30)
        admins.append(infusion(piggyback(rng, "famotidine_ivpb"), f0, tf))
        c.add("96368", 1, f0)                  # separate bag overlapping rituximab >= 16 min
        variant += "+pepcid"
    w = Lines().add("96374", 1, 0).add("96375", len(push_names) - 1 + bag_push, 0)
    for code in ("96367", "96366", "96368"):
        if code in c.units:
            w.add(code, c.units[code], c.at[code])
    w.add("96417", 1, r0).add("96415", addl_hours(tr), r0)
    return Scenario(f"ic_rituximab:{variant}", "infusion_centre", admins, c, site,
                    {"initial_wrong_family": w}, mixed_bag_at=b0 if with_bag else None, start_rule="ic")


def ic_rchop(rng: np.random.Generator) -> Scenario:
    """R-CHOP (or CHOP) day after coding-rules Ex 9.

    Premeds diphenhydramine + palonosetron pushes (96375 x2), fosaprepitant
    20-30 min (96367), dexamethasone push (96375); rituximab (96413 + 96415);
    optional Pepcid overlap (96368); doxorubicin push and a 8-15 min
    vincristine infusion (chemo pushes: 96411 x2); cyclophosphamide 30-70 min
    (96417, or 96413 when there is no rituximab).
    """
    site = "port"
    with_r = chance(rng, 0.6)
    admins = [push(push_drug(rng, "diphenhydramine"), 0), push(push_drug(rng, "palonosetron"), ri(rng, 0, 1))]
    e0 = ri(rng, 3, 8)
    te = ri(rng, 20, 30)
    admins.append(infusion(piggyback(rng, "fosaprepitant"), e0, te))
    d = e0 + te + ri(rng, 2, 10)
    admins.append(push(push_drug(rng, "dexamethasone"), d))
    c = Lines()
    c.add("96375", 3, 0)                       # three therapeutic pushes of new drugs
    c.add("96367", 1, e0).add("96366", addl_hours(te), e0)
    w = Lines().add("96374", 1, 0).add("96375", 2, 0).add("96367", 1, e0).add("96366", addl_hours(te), e0)
    variant = "CHOP"
    if with_r:
        variant = "R-CHOP"
        r0 = d + ri(rng, 5, 20)
        tr = ri(rng, 240, 330)
        admins.append(infusion(chemo_infusion(rng, pick(rng, ("rituximab_abbs", "rituximab"))), r0, tr, rate=50.0,
                               rate_changes=((30, 100.0), (60, 150.0), (90, 200.0))))
        c.add("96413", 1, r0).add("96415", addl_hours(tr), r0)
        w.add("96417", 1, r0).add("96415", addl_hours(tr), r0)
        if chance(rng, 0.5):
            f0 = r0 + ri(rng, 60, 120)
            admins.append(infusion(piggyback(rng, "famotidine_ivpb"), f0, ri(rng, 20, 30)))
            c.add("96368", 1, f0)
            w.add("96368", 1, f0)
            variant += "+pepcid"
        x = r0 + tr + ri(rng, 10, 25)
    else:
        x = d + ri(rng, 10, 20)
    admins.append(push(chemo_push(rng, "doxorubicin"), x))
    v0 = x + ri(rng, 5, 12)
    tv = ri(rng, 8, 15)
    admins.append(infusion(chemo_infusion(rng, "vincristine"), v0, tv))
    c0 = v0 + tv + ri(rng, 3, 15)
    tc = ri(rng, 30, 70)
    admins.append(infusion(chemo_infusion(rng, "cyclophosphamide"), c0, tc))
    c.add("96411", 2, x)                       # doxorubicin push + vincristine <= 15 min
    w.add("96411", 2, x)
    if with_r:
        c.add("96417", 1, c0).add("96415", addl_hours(tc), c0)  # new chemo drug, sequential
    else:
        c.add("96413", 1, c0).add("96415", addl_hours(tc), c0)  # the only chemo infusion: initial
    w.add("96417", 1, c0).add("96415", addl_hours(tc), c0)
    return Scenario(f"ic_rchop:{variant}", "infusion_centre", admins, c, site, {"initial_wrong_family": w},
                    start_rule="ic")


def ic_folfox(rng: np.random.Generator) -> Scenario:
    """FOLFOX day (Ex 25/26) or the Ex 11 levoleucovorin + 5-FU push day.

    ``folfox``: palonosetron + dexamethasone pushes (96375 x2), oxaliplatin
    120-170 min (96413 + 96415) with (levo)leucovorin concurrent on the same
    line (96368), 5-FU bolus (96411), 46 h 5-FU pump (96416).
    ``ex11``: premed mixed bag <= 15 min (one push, 96375), levoleucovorin
    120-130 min (96367 + 96366), 5-FU push (initial 96409), optional pump.
    """
    site = "port"
    c = Lines()
    if chance(rng, 0.7):
        admins = [push(push_drug(rng, "palonosetron"), 0), push(push_drug(rng, "dexamethasone"), ri(rng, 0, 3))]
        o0 = ri(rng, 8, 20)
        to = ri(rng, 120, 170)
        l0 = o0 + pick(rng, (0, ri(rng, 1, 5)))
        tl = ri(rng, 90, 125)
        admins.append(infusion(chemo_infusion(rng, "oxaliplatin"), o0, to))
        admins.append(infusion(piggyback(rng, pick(rng, ("leucovorin", "levoleucovorin"))), l0, tl))
        b = max(o0 + to, l0 + tl) + ri(rng, 5, 15)
        admins.append(push(chemo_push(rng, "fluorouracil"), b))
        p0 = b + ri(rng, 5, 15)
        admins.append(pump(chemo_infusion(rng, "fluorouracil_pump"), p0))
        c.add("96375", 2, 0)
        c.add("96413", 1, o0).add("96415", addl_hours(to), o0)  # oxaliplatin: chemo infusion
        c.add("96368", 1, l0)                  # leucovorin: separate bag with the initial
        c.add("96411", 1, b)                   # 5-FU bolus: chemo push of a new drug
        c.add("96416", 1, p0)                  # pump start
        w = Lines().add("96374", 1, 0).add("96375", 1, 0).add("96417", 1, o0).add("96415", addl_hours(to), o0)
        w.add("96368", 1, l0).add("96411", 1, b).add("96416", 1, p0)
        return Scenario("ic_folfox:folfox", "infusion_centre", admins, c, site, {"initial_wrong_family": w},
                        start_rule="ic")
    tb = pick(rng, (15, ri(rng, 10, 14)))
    admins = [infusion(mixed_bag(rng, ("ondansetron", "dexamethasone")), 0, tb)]
    l0 = tb + ri(rng, 0, 5)
    tl = ri(rng, 120, 130)
    admins.append(infusion(piggyback(rng, "levoleucovorin"), l0, tl))
    b = l0 + tl + ri(rng, 0, 5)
    admins.append(push(chemo_push(rng, "fluorouracil"), b))
    c.add("96409", 1, b)                       # chemo push outranks a therapeutic infusion
    c.add("96375", 1, 0)                       # premed bag <= 15 min: one push
    c.add("96367", 1, l0).add("96366", addl_hours(tl), l0)
    w = Lines().add("96374", 1, 0).add("96367", 1, l0).add("96366", addl_hours(tl), l0).add("96411", 1, b)
    variant = "ex11"
    if chance(rng, 0.7):
        p0 = b + ri(rng, 5, 15)
        admins.append(pump(chemo_infusion(rng, "fluorouracil_pump"), p0))
        c.add("96416", 1, p0)
        w.add("96416", 1, p0)
        variant += "+pump"
    return Scenario(f"ic_folfox:{variant}", "infusion_centre", admins, c, site, {"initial_wrong_family": w},
                    mixed_bag_at=0, start_rule="ic")


_CHEMO_TIMES: dict[str, tuple[int, int]] = {
    "carboplatin": (30, 60), "gemcitabine": (30, 35), "paclitaxel": (180, 190), "docetaxel": (60, 65),
    "irinotecan": (90, 95), "cyclophosphamide": (30, 60), "pembrolizumab": (28, 35), "nivolumab": (28, 35),
    "trastuzumab": (30, 91), "bevacizumab": (30, 90), "infliximab": (120, 150),
}


def _chemo_bags(rng: np.random.Generator, names: Sequence[str], t: int) -> tuple[list[Admin], list[tuple[int, int]]]:
    """One infusion per drug of ``names``, one after another from minute ``t``
    (gaps of 0-5 min), and each one's (start, end) minute; infliximab with
    its titrated rate."""
    chemo: list[tuple[int, int]] = []
    admins: list[Admin] = []
    for n in names:
        lo, hi = _CHEMO_TIMES[n]
        dur = ri(rng, lo, hi)
        changes = ((15, 100.0), (30, 200.0)) if n == "infliximab" else ()
        admins.append(infusion(chemo_infusion(rng, n), t, dur, rate_changes=changes,
                               rate=50.0 if changes else None))
        chemo.append((t, t + dur))
        t += dur + ri(rng, 0, 5)
    return admins, chemo


def _premed_pushes(rng: np.random.Generator, first: str, h1: int) -> tuple[list[Admin], int]:
    """Premedication pushes during the ``h1`` minutes of pre-hydration (always
    before infliximab, else half the time), and the last one's minute (0 when none)."""
    if not (first == "infliximab" or chance(rng, 0.5)):
        return [], 0
    premeds = ("diphenhydramine", "methylprednisolone") if first == "infliximab" else (
        pick(rng, ("ondansetron", "dexamethasone")),)
    pushes, q = [], 0
    for n in premeds:
        q = ri(rng, 1, h1 - 1)
        pushes.append(push(push_drug(rng, n), q))
    return pushes, q


def _chemo_with_hydration(rng: np.random.Generator, template: str, pool: Sequence[str],
                          pairs: Sequence[tuple[str, str]]) -> Scenario:
    """Chemo / complex infusion(s) with pre- and post-hydration.

    ``separate``: a pre bag and a post bag (never overlapping the drug);
    ``one_bag``: one fluid bag running through (Ex 12): only the minutes when
    no drug infuses are creditable. Pre and post minutes add up (secondary
    96361). Optional premed push during the pre-hydration (96375).
    """
    site = _ic_site(rng)
    if pairs and chance(rng, 0.3):
        names = list(pick(rng, pairs))
    else:
        names = [pick(rng, pool)]
    h1 = ri(rng, 15, 60)
    admins, chemo = _chemo_bags(rng, names, h1 + ri(rng, 0, 5))
    end = chemo[-1][1]
    h2_start = end + ri(rng, 0, 5)
    h2 = ri(rng, 10, 60)
    variant = pick(rng, ("separate", "one_bag"))
    fname = pick(rng, ("ns_500", "ns_infusion"))
    if variant == "separate":
        f = fluid(rng, fname)
        admins.append(infusion(f, 0, h1, order="ivf", floor=100))
        admins.append(infusion(f, h2_start, h2, order="ivf", floor=100))
        hc = h1 + h2
        h = hc                                 # nothing else infusing during either bag
    else:
        hc = h2_start + h2
        admins.append(infusion(fluid(rng, fname), 0, hc, rate=pick(rng, (100.0, 150.0, 250.0))))
        h = hc - covered((0, hc), chemo)       # drug minutes are not creditable
    c = Lines()
    (s1, e1) = chemo[0]
    c.add("96413", 1, s1).add("96415", addl_hours(e1 - s1), s1)     # first chemo: initial
    for s, e in chemo[1:]:
        c.add("96417", 1, s).add("96415", addl_hours(e - s), s)     # a new chemo drug: sequential
    c.add("96361", secondary_hydration_units(h), 0)
    premeds, q = _premed_pushes(rng, names[0], h1)
    admins += premeds
    pushes = len(premeds)
    if pushes:
        c.add("96375", pushes, q)
    variants: dict[str, Lines] = {}
    if variant == "one_bag" and secondary_hydration_units(hc) != secondary_hydration_units(h):
        variants["hydration_during_drug"] = c.copy().set("96361", secondary_hydration_units(hc), 0)
    if h >= 31:
        w = Lines().add("96360", 1, 0).add("96361", addl_hours(h), 0)
        for s, e in chemo:
            w.add("96417", 1, s).add("96415", addl_hours(e - s), s)
        w.add("96375", pushes, q)
        variants["initial_wrong_family"] = w
    label = "+".join(names)
    return Scenario(f"{template}:{label}:{variant}", "infusion_centre", admins, c, site, variants,
                    hydration_overlap=variant == "one_bag", start_rule="ic")


def ic_chemo_hydration(rng: np.random.Generator) -> Scenario:
    """Cytotoxic chemo with pre/post hydration (see :func:`_chemo_with_hydration`)."""
    return _chemo_with_hydration(
        rng, "ic_chemo_hydration",
        ("carboplatin", "gemcitabine", "paclitaxel", "docetaxel", "irinotecan", "cyclophosphamide"),
        (("paclitaxel", "carboplatin"), ("gemcitabine", "carboplatin"), ("docetaxel", "cyclophosphamide")))


def ic_immunotherapy_hydration(rng: np.random.Generator) -> Scenario:
    """Immunotherapy / biologic 30-150 min with hydration (96413 (+96415) + 96361)."""
    return _chemo_with_hydration(
        rng, "ic_immunotherapy_hydration",
        ("pembrolizumab", "nivolumab", "trastuzumab", "bevacizumab", "infliximab"), ())


def ic_injection(rng: np.random.Generator) -> Scenario:
    """Leuprolide IM/SC (96402, hormonal antineoplastic) or pegfilgrastim SC (96372)."""
    name = pick(rng, ("leuprolide_im", "leuprolide_sc", "pegfilgrastim", "pegfilgrastim"))
    route = "im_injection" if name == "leuprolide_im" else "sc_injection"
    admins = [inject(injection(rng, name), 0, route)]
    c = Lines().add("96402" if name.startswith("leuprolide") else "96372", 1, 0)
    extra = [("G0463", 1, "0510", None)] if chance(rng, 0.3) else []
    return Scenario(f"ic_injection:{name}", "infusion_centre", admins, c, None, start_rule="ic", extra=extra)


def ic_bortezomib(rng: np.random.Generator) -> Scenario:
    """Ex 10: palonosetron + dexamethasone in ONE bag, then bortezomib IV push (96409).

    The bag is one administration: a push (96375) at <= 15 min, a sequential
    infusion (96367) from 16 min; never 96368.
    """
    site = _ic_site(rng)
    tb = ri(rng, 10, 30)
    x = tb + ri(rng, 2, 10)
    admins = [infusion(mixed_bag(rng, ("palonosetron", "dexamethasone")), 0, tb),
              push(chemo_push(rng, "bortezomib"), x)]
    c = Lines().add("96409", 1, x)             # chemo push outranks the therapeutic bag
    if tb <= 15:
        c.add("96375", 1, 0)
        w = Lines().add("96374", 1, 0).add("96411", 1, x)
    else:
        c.add("96367", 1, 0).add("96366", addl_hours(tb), 0)
        w = Lines().add("96365", 1, 0).add("96366", addl_hours(tb), 0).add("96411", 1, x)
    return Scenario(f"ic_bortezomib:bag_{'push' if tb <= 15 else 'infusion'}", "infusion_centre", admins, c, site,
                    {"initial_wrong_family": w}, mixed_bag_at=0, start_rule="ic")


# template, weight
ED_TEMPLATES: tuple[tuple[Template, float], ...] = (
    (ed_abx_push_ns, 12), (ed_pain_pushes, 10), (ed_hydration_only, 10), (ed_two_abx_sequential, 8),
    (ed_two_abx_concurrent, 8), (ed_multilumen_three, 6), (ed_three_in_one_bag, 6), (ed_push_then_infusion, 8),
    (ed_same_drug_two_bags, 10), (ed_pause_rate_change, 6), (ed_overnight_obs, 5), (ed_overnight_ex1, 2),
    (ed_sc_injection, 6),
)
IC_TEMPLATES: tuple[tuple[Template, float], ...] = (
    (ic_iron_sucrose, 12), (ic_rituximab, 12), (ic_rchop, 8), (ic_folfox, 10), (ic_chemo_hydration, 14),
    (ic_injection, 8), (ic_immunotherapy_hydration, 12), (ic_bortezomib, 6),
)


def jcode_lines(admins: Sequence[Admin]) -> list[tuple[Drug, int, int]]:
    """Drug supply lines (J/Q/S codes): (drug, units, first minute), one per drug string."""
    dose: dict[Drug, float] = {}
    first: dict[Drug, int] = {}
    for a in admins:
        for d in a.drugs:
            if d.jcode is None or d.j_per is None:
                continue
            dose[d] = dose.get(d, 0.0) + (d.dose if not d.fluid else (d.volume_ml or 0.0))
            first[d] = min(first.get(d, a.start), a.start)
    return [(d, max(1, math.ceil(round(v / (d.j_per or 1.0), 6))), first[d]) for d, v in dose.items()]
