"""Coding policies: every point where published sources disagree.

Each field names one disagreement of ../shared/domain/coding-rules.md section 4
(D-numbers in the comments) and carries the documented default. A ``Policy`` is
immutable; profiles are named presets and a user's TOML file or ``--set``
overrides are applied on top with :func:`load_policy`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ExtraConcurrent = Literal["nothing", "sequential"]
HydrationAggregation = Literal["encounter", "run"]
MissingStop = Literal["derive", "push", "exclude"]
LineDate = Literal["threshold", "start"]
ElectrolyteInFluid = Literal["hydration", "therapeutic"]
RepeatInfusion = Literal["continuing", "repeat_push", "sequential"]
ConcurrentChemo = Literal["sequential", "concurrent"]
InfusionOverChemoPush = Literal["sequential", "concurrent"]
SeparateVisitModifier = Literal["59", "XE"]
#: Modifiers that mark a separate visit's initial line (R-B5, D10).
SEPARATE_VISIT_MODIFIERS: tuple[str, ...] = ("59", "XE")


@dataclass(frozen=True)
class Policy:
    """Named coding policy; defaults follow CMS facility guidance.

    Attributes:
        name: profile name written into every run's outputs.
        concurrent_min_overlap_minutes: minutes two separate infusates must
            overlap on one access site before the later one is concurrent
            (D4; Haugen citing Palmetto A53778 says 16).
        extra_concurrent: what a further overlapping drug earns once 96368 has
            been used: ``nothing`` (R-E1, default) or ``sequential`` (forum
            practice of Ex 8, D12).
        hydration_aggregation: ``encounter`` adds every creditable hydration
            minute of the encounter (CPT Assistant June 2007, D5, default);
            ``run`` requires each contiguous run to reach 31 minutes alone.
        missing_stop: an infusion start with no stop: ``derive`` the stop from
            volume / rate when both are charted, else treat as a push
            (default, D3 a+c); ``push`` always; ``exclude`` never code it.
        line_date: ``threshold`` dates each unit on the day the minute that
            earned it fell (CMS line-item dates, D2, default); ``start`` puts
            every unit of a service on its start date.
        electrolyte_in_fluid: a prepackaged fluid with an added electrolyte
            counts as ``hydration`` (R-G1, Coding Clinic Ex 22, default) or as
            a ``therapeutic`` infusion (Haugen Ex 14, D21).
        kvo_max_rate_ml_h: a plain fluid running at or below this rate is
            keep-vein-open, never hydration (R-G3).
        repeat_infusion: the same drug infused again later in the encounter
            (restarted more than 30 minutes after it last stopped, the gap a
            repeat push of the same drug needs; D11): ``continuing`` adds its
            minutes to the running service's hours, as for a new bag of the
            same drug (default); ``repeat_push`` codes each later run 96376
            on the facility claim as Haugen did in Ex 2 (nothing for chemo,
            which has no repeat code, nor on the physician claim);
            ``sequential`` codes each later run as a sequential infusion
            96367 / 96417 with its own hours (a push when 15 minutes or less).
        concurrent_chemo: a chemo infusion overlapping an earlier infusion on
            the same access (D13): ``sequential`` 96417 (default: no source
            gives chemo a concurrent code; 96368 is a therapeutic code), or
            ``concurrent``, the one 96368 of the encounter like a therapeutic
            drug (R-E1).
        infusion_over_chemo_push: a therapeutic infusion (leucovorin in Ex 27)
            running when a chemo push is given on the same access (D15):
            ``sequential`` 96367 + hours (default), or ``concurrent``, the
            one 96368 of the encounter, as HCPro coded Ex 27 (R-E3).
        hydration_min_volume_ml: the smallest bag (charted ``volume_ml``) a
            payer accepts as hydration (D16: 500 mL Trailblazer/Cahaba, 250
            mL Highmark); a smaller bag is treated like keep-vein-open fluid
            (R-G3), a bag with no volume charted is not judged; 0 (default)
            means no minimum.
        separate_visit_modifier: the modifier on the initial line of a
            documented separate visit inside one encounter (a later,
            different non-empty ``visit_id``; R-B5, D10): ``59`` as in the
            published AAPC answer of Ex 16 (default) or ``XE`` (separate
            encounter, R-B3, R-M1).
    """

    name: str = "cms_facility"
    concurrent_min_overlap_minutes: int = 16
    extra_concurrent: ExtraConcurrent = "nothing"
    hydration_aggregation: HydrationAggregation = "encounter"
    missing_stop: MissingStop = "derive"
    line_date: LineDate = "threshold"
    electrolyte_in_fluid: ElectrolyteInFluid = "hydration"
    kvo_max_rate_ml_h: float = 30.0
    repeat_infusion: RepeatInfusion = "continuing"
    concurrent_chemo: ConcurrentChemo = "sequential"
    infusion_over_chemo_push: InfusionOverChemoPush = "sequential"
    hydration_min_volume_ml: float = 0.0
    separate_visit_modifier: SeparateVisitModifier = "59"

    def replace(self, **changes: Any) -> "Policy":
        """Return a copy with ``changes`` applied and validated."""
        return validate(dataclasses.replace(self, **changes))


PROFILES: dict[str, dict[str, Any]] = {
    # Medicare outpatient facility: the defaults above.
    "cms_facility": {},
    # Commercial payers that follow CPT text literally.
    "commercial_cpt": {
        "name": "commercial_cpt",
        "line_date": "start",
    },
}

_CHOICES: dict[str, tuple[Any, ...]] = {
    "extra_concurrent": ("nothing", "sequential"),
    "hydration_aggregation": ("encounter", "run"),
    "missing_stop": ("derive", "push", "exclude"),
    "line_date": ("threshold", "start"),
    "electrolyte_in_fluid": ("hydration", "therapeutic"),
    "repeat_infusion": ("continuing", "repeat_push", "sequential"),
    "concurrent_chemo": ("sequential", "concurrent"),
    "infusion_over_chemo_push": ("sequential", "concurrent"),
    "separate_visit_modifier": SEPARATE_VISIT_MODIFIERS,
}


def validate(policy: Policy) -> Policy:
    """Raise ``ValueError`` naming the field when a value is out of range."""
    for name, choices in _CHOICES.items():
        if getattr(policy, name) not in choices:
            raise ValueError(
                f"policy {name}={getattr(policy, name)!r}: expected one of {choices}"
            )
    if policy.concurrent_min_overlap_minutes < 1:
        raise ValueError("policy concurrent_min_overlap_minutes must be >= 1")
    if policy.kvo_max_rate_ml_h < 0:
        raise ValueError("policy kvo_max_rate_ml_h must be >= 0")
    if policy.hydration_min_volume_ml < 0:
        raise ValueError("policy hydration_min_volume_ml must be >= 0")
    return policy


def _coerce(name: str, raw: str) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(Policy)}[name]
    if kind in ("int",):
        return int(raw)
    if kind in ("float",):
        return float(raw)
    return raw


def load_policy(
    profile: str = "cms_facility",
    file: Path | None = None,
    overrides: dict[str, str] | None = None,
) -> Policy:
    """Build a policy: profile, then a TOML file's keys, then ``overrides``.

    Raises:
        ValueError: unknown profile, unknown key or a value out of range.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown policy profile {profile!r}; known: {sorted(PROFILES)}")
    values: dict[str, Any] = {"name": profile, **PROFILES[profile]}
    known = {f.name for f in dataclasses.fields(Policy)}
    if file is not None:
        data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        data = data.get("policy", data)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{file}: unknown policy keys {sorted(unknown)}")
        values.update(data)
    for key, raw in (overrides or {}).items():
        if key not in known:
            raise ValueError(f"unknown policy key {key!r}; known: {sorted(known)}")
        values[key] = _coerce(key, raw)
    return validate(Policy(**values))


DEFAULT_POLICY = Policy()
