"""Payer-specific coding policies: which policy profile audits whose claims.

A payer map is a small CSV file, one row per payer::

    payer_id,policy_profile
    MEDICARE,cms_facility
    AETNA01,commercial_cpt
    *,cms_facility

``payer_id`` is the claims' optional ``payer_id`` (837: ``NM1*PR``);
``policy_profile`` names a profile of :data:`transforms.vocab.policy.PROFILES`.
The row ``*`` names the profile of payers the map does not list; without it
they (and encounters with no claim or no payer) are audited by the run's own
policy. One nightly run then audits Medicare claims by CMS rules and a
commercial payer's by CPT rules (:func:`transforms.audit.run_audit`).

The run's own policy settings (``--policy-file``, ``--set``) are site choices
and apply under every profile: a profile's policy is its preset plus the
fields in which the run's policy differs from the run's own preset
(:func:`profile_policies`). Two profiles therefore differ exactly where their
presets differ (:func:`policy_differences`).

Pure: the standard library and pandas, no Prefect.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from transforms.frames import text
from transforms.vocab.policy import PROFILES, Policy, load_policy

#: The claims' payer column (contract section 2).
PAYER_ID = "payer_id"
#: The columns of a payer map file.
PAYER_MAP_COLUMNS: tuple[str, str] = ("payer_id", "policy_profile")
#: ``payer_id`` of the row that names the profile of every payer not listed.
DEFAULT_ROW = "*"
#: Claim-line order that decides an encounter's payer: its first claim line
#: by date of service, then claim id, then line number (content, not file
#: order, so the choice is the same however the extract is split or sorted).
FIRST_CLAIM_ORDER: tuple[str, ...] = ("service_date", "claim_id", "line_number")


class PayerMapError(ValueError):
    """A payer map file that cannot be used; the message names the file and row."""


@dataclass(frozen=True)
class PayerMap:
    """Which policy profile audits each payer's claims.

    Attributes:
        profiles: ``payer_id`` -> profile name (every name in ``PROFILES``).
        default: profile of payers not in ``profiles``; ``None`` = the run's policy.
        source: the file it was read from (for messages), ``""`` when built in code.
    """

    profiles: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        for payer, profile in (*self.profiles.items(), (DEFAULT_ROW, self.default)):
            if profile is not None and profile not in PROFILES:
                raise PayerMapError(f"{self.source or 'payer map'}: payer {payer!r}: unknown policy profile "
                                    f"{profile!r}; known: {sorted(PROFILES)}")

    def default_profile(self, run_policy: Policy) -> str:
        """The profile of unmapped payers and of encounters without a payer."""
        return self.default or run_policy.name


def _map_rows(path: Path) -> list[dict[str, str]]:
    """The data rows of a payer map file, keys lower-cased and values trimmed.

    Raises:
        PayerMapError: unreadable file, not UTF-8, or a missing column.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            names = [(n or "").strip().lower() for n in reader.fieldnames or []]
            missing = [c for c in PAYER_MAP_COLUMNS if c not in names]
            if missing:
                raise PayerMapError(f"{path}: missing column(s) {', '.join(missing)}; a payer map's header is "
                                    f"{','.join(PAYER_MAP_COLUMNS)}")
            reader.fieldnames = names
            return [{k: (v or "").strip() for k, v in row.items() if k in PAYER_MAP_COLUMNS} for row in reader]
    except (OSError, UnicodeDecodeError) as exc:
        raise PayerMapError(f"{path}: cannot read the payer map ({exc.__class__.__name__}: {exc}); "
                            "save it as a UTF-8 CSV with columns payer_id,policy_profile") from None


def load_payer_map(path: Path) -> PayerMap:
    """Read and check a payer map CSV (see the module doc).

    Every row must name a payer (or ``*``) and a known profile; a payer may
    appear once. Rows are numbered as data rows from 1 (the header is row 0).

    Raises:
        PayerMapError: the file cannot be read, lacks a column, or a row has
            an empty payer, an unknown profile or a repeated payer; the
            message names the file and the row.
    """
    path = Path(path)
    profiles: dict[str, str] = {}
    default: str | None = None
    for number, row in enumerate(_map_rows(path), start=1):
        payer, profile = row.get("payer_id", ""), row.get("policy_profile", "")
        where = f"{path}: row {number}"
        if not payer:
            raise PayerMapError(f"{where}: empty payer_id (use {DEFAULT_ROW} for payers not listed)")
        if profile not in PROFILES:
            raise PayerMapError(f"{where}: unknown policy profile {profile!r} for payer {payer!r}; "
                                f"known: {sorted(PROFILES)}")
        if payer in profiles or (payer == DEFAULT_ROW and default is not None):
            raise PayerMapError(f"{where}: payer {payer!r} is listed twice")
        if payer == DEFAULT_ROW:
            default = profile
        else:
            profiles[payer] = profile
    return PayerMap(profiles, default, str(path))


def run_changes(run_policy: Policy) -> dict[str, Any]:
    """The fields in which the run's policy differs from its own preset (its file and ``--set``)."""
    preset = load_policy(run_policy.name) if run_policy.name in PROFILES else Policy(name=run_policy.name)
    return {f.name: getattr(run_policy, f.name) for f in dataclasses.fields(Policy)
            if f.name != "name" and getattr(run_policy, f.name) != getattr(preset, f.name)}


def profile_policies(payer_map: PayerMap | None, run_policy: Policy) -> dict[str, Policy]:
    """Every policy a run may audit by, keyed by profile name.

    The run's own profile is ``run_policy`` itself; every other profile the
    map names is its preset plus :func:`run_changes` of ``run_policy``.
    """
    changes = run_changes(run_policy)
    names = {run_policy.name}
    if payer_map is not None:
        names |= set(payer_map.profiles.values()) | {payer_map.default_profile(run_policy)}
    return {name: run_policy if name == run_policy.name else load_policy(name).replace(**changes)
            for name in sorted(names)}


def encounter_profiles(claims: pd.DataFrame, payer_map: PayerMap | None, default_profile: str) -> pd.Series:
    """The policy profile of each encounter that has a claim line naming a payer.

    An encounter's payer is the ``payer_id`` of its first claim line that
    names one, in :data:`FIRST_CLAIM_ORDER` (so when its claims name two
    payers, the claim billed for the earliest date of service decides; the
    primary payer is billed first). Its profile is the payer map's, else
    ``default_profile``. Encounters missing from the result (no claim, no
    payer, or no map) are audited by ``default_profile`` too.

    Returns:
        Profile names (object dtype) indexed by ``encounter_id``, sorted by it;
        empty when ``payer_map`` is ``None`` or the claims carry no payer.
    """
    empty = pd.Series([], index=pd.Index([], name="encounter_id", dtype=object), dtype=object)
    if payer_map is None or PAYER_ID not in claims or claims.empty:
        return empty
    payer = text(claims[PAYER_ID])
    named = claims.assign(**{PAYER_ID: payer})[payer.notna() & claims["encounter_id"].notna()]
    order = [c for c in FIRST_CLAIM_ORDER if c in named]
    first = (named.sort_values(["encounter_id", *order], kind="mergesort", na_position="last")
             .drop_duplicates("encounter_id", keep="first").set_index("encounter_id")[PAYER_ID])
    profiles = first.map(dict(payer_map.profiles)).fillna(default_profile).astype(object)
    return profiles.sort_index(kind="mergesort")


def policy_differences(policy: Policy, base: Policy) -> dict[str, tuple[Any, Any]]:
    """``field -> (policy's value, base's value)`` for every field but ``name`` that differs."""
    return {f.name: (getattr(policy, f.name), getattr(base, f.name)) for f in dataclasses.fields(Policy)
            if f.name != "name" and getattr(policy, f.name) != getattr(base, f.name)}
