"""Run settings: one object, read from the environment once, overridable per call.

| variable | default | meaning |
| --- | --- | --- |
| INFUSION_AUDIT_LAKE | data/lake | lake root folder |
| INFUSION_AUDIT_TZ | America/New_York | facility time zone for local times and line dates |
| INFUSION_AUDIT_POLICY | cms_facility | policy profile |
| INFUSION_AUDIT_POLICY_FILE | (none) | TOML file of policy overrides |
| INFUSION_AUDIT_PAYER_MAP | (none: every claim by the run's policy) | CSV `payer_id,policy_profile` naming the policy profile of each payer's claims (transforms/payers.py) |
| INFUSION_AUDIT_DRUGS | (none) | your own drug list (same columns as transforms/reference/tables/drugs.csv) |
| INFUSION_AUDIT_LOOKBACK_DAYS | 7 | days of earlier extracts read to complete an encounter |
| INFUSION_AUDIT_FEES | transforms/reference/tables/fee_schedule_sample.csv | fee schedule for dollar impact (the sample's amounts are illustrative) |
| INFUSION_AUDIT_NCCI_DIR | (none: no MUE/PTP checks) | folder of CMS MUE CSVs and NCCI PTP files (ccioph/ccipra) |
| INFUSION_AUDIT_MAR_FORMAT | (none: told from content) | canonical, fhir, clif, a mapping profile name or a mapping file |
| INFUSION_AUDIT_CLAIMS_FORMAT | (none: told from content) | canonical or x12 |
| INFUSION_AUDIT_X12_ACCOUNT_REF | CLM01 | where an 837 carries the hospital account: CLM01, REF[D9] or REF[EA] |
| INFUSION_AUDIT_MAX_QUARANTINE_SHARE | 0.05 | share (0..1) of an extract's rows that may be quarantined before the run is refused |
| INFUSION_AUDIT_SHARD_ENCOUNTERS | 50000 | a day with more encounters is audited in shards of this many (bounded memory; same outputs) |
| INFUSION_AUDIT_PROCESSES | CPUs usable, at most 2 | processes that audit a day's shards at once: this one and N-1 helpers (same outputs; none on Dask) |
| INFUSION_AUDIT_DASK | (none: one process) | where a backfill's days run: ``local:N`` (N worker processes) or a Dask scheduler address (docs/distributed.md) |

A ``Settings`` owns its serialisation: :meth:`Settings.to_params` and
:meth:`Settings.from_params` carry every field to a served deployment and
back, and :meth:`Settings.cache_key_parts` names every field in a backfill's
cache key (files by their bytes), except the fields of
:data:`EXECUTION_FIELDS`, which choose how a run is executed and never what it
outputs. A test walks every field, so a field added later that is not carried,
or neither keyed nor declared an execution field, fails it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from transforms.vocab.policy import Policy, load_policy, validate

#: Fields that choose how a run executes, not what it writes: left out of the
#: cache key, so a day cached by a one-process backfill is a hit for a Dask one.
#: Byte-identical outputs either way are tested (tests/flows/test_shards.py,
#: tests/flows/test_dask.py).
EXECUTION_FIELDS: frozenset[str] = frozenset({"shard_encounters", "audit_processes", "dask_address"})
#: Default :attr:`Settings.shard_encounters`. Measured at 1M encounters (make bench data):
#: shards of 50k audit in 35 s and peak at 4.9 GB, of 250k in 42 s and 5.5 GB (smaller
#: shards keep the engine's frames in cache and bound them; outputs are the same).
DEFAULT_SHARD_ENCOUNTERS = 50_000
#: Most shards audited at once by default (:attr:`Settings.audit_processes`): each
#: process holds one shard's working frames (a few hundred MB at 50k encounters),
#: so the default stays at 2 even on big machines; raise it where memory allows.
MAX_DEFAULT_AUDIT_PROCESSES = 2


def default_audit_processes() -> int:
    """The CPUs this process may run on, at most :data:`MAX_DEFAULT_AUDIT_PROCESSES`."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(usable, MAX_DEFAULT_AUDIT_PROCESSES))


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides its input files."""

    lake_root: Path = Path("data/lake")
    facility_tz: str = "America/New_York"
    policy: Policy = field(default_factory=Policy)
    #: Payer map (:mod:`transforms.payers`): the policy profile of each payer's
    #: claims; ``None``: every encounter is audited by :attr:`policy`.
    payer_map: Path | None = None
    drug_list: Path | None = None
    lookback_days: int = 7
    fee_schedule: Path | None = None
    ncci_dir: Path | None = None
    #: Input formats forced for every file (``None``: told from each file's content).
    mar_format: str | None = None
    claims_format: str | None = None
    #: Where an 837 carries the hospital account (the encounter): CLM01, REF[D9] or REF[EA].
    x12_account_ref: str = "CLM01"
    #: Share (0..1) of an extract's rows that may be set aside for data problems;
    #: more (or a vocabulary column rejected as a whole) refuses the run
    #: (:mod:`transforms.ingest.usability`).
    max_quarantine_share: float = 0.05
    #: A day with more encounters than this is audited in shards of at most this
    #: many (contiguous ranges of sorted encounter ids, :mod:`transforms.shards`):
    #: the engine's memory is bounded by a shard; the outputs are the same bytes.
    shard_encounters: int = DEFAULT_SHARD_ENCOUNTERS
    #: How many processes audit a day's shards at once: this one and ``N - 1``
    #: helpers (:mod:`flows.shard_workers`); 1: all in this process. Each helper
    #: holds one shard's working frames. The outputs are the same bytes whatever N.
    audit_processes: int = field(default_factory=default_audit_processes)
    #: Where a backfill's days run (:mod:`flows.runners`): ``None`` in this process,
    #: one day after another; ``local:N`` on a temporary local Dask cluster of N
    #: worker processes; ``tcp://host:8786`` (any Dask scheduler address) on that cluster.
    dask_address: str | None = None

    def __post_init__(self) -> None:
        share = self.max_quarantine_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= float(share) <= 1.0:
            raise ValueError(f"max_quarantine_share must be a number from 0 to 1, not {share!r}")
        shard = self.shard_encounters
        if isinstance(shard, bool) or not isinstance(shard, int) or shard < 1:
            raise ValueError(f"shard_encounters must be a whole number of at least 1, not {shard!r}")
        processes = self.audit_processes
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise ValueError(f"audit_processes must be a whole number of at least 1, not {processes!r}")

    @property
    def shard_helpers(self) -> int:
        """Helper processes a day's audit may start (:mod:`flows.shard_workers`):
        ``audit_processes - 1``, and none on Dask, whose workers already spread the days."""
        return self.audit_processes - 1 if self.dask_address is None else 0

    def with_(self, **changes: object) -> "Settings":
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    # --- where a run's files go (the one formula) -------------------------------
    def run_dir(self, day: date) -> Path:
        """The run folder of ``day``: ``<lake>/../runs/<YYYY-MM-DD>``."""
        return Path(self.lake_root).parent / "runs" / day.isoformat()

    @property
    def results_dir(self) -> Path:
        """Where backfill results and cache records are persisted: ``<lake>/../.prefect-results``."""
        return Path(self.lake_root).parent / ".prefect-results"

    # --- from the environment --------------------------------------------------
    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """Settings from ``INFUSION_AUDIT_*`` variables (see module doc)."""
        env = dict(os.environ if env is None else env)
        tz = env.get("INFUSION_AUDIT_TZ", "America/New_York")
        ZoneInfo(tz)  # fail early on a misspelt zone
        policy_file = env.get("INFUSION_AUDIT_POLICY_FILE")

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(
            lake_root=Path(env.get("INFUSION_AUDIT_LAKE", "data/lake")),
            facility_tz=tz,
            policy=load_policy(env.get("INFUSION_AUDIT_POLICY", "cms_facility"),
                               Path(policy_file) if policy_file else None),
            payer_map=path("INFUSION_AUDIT_PAYER_MAP"),
            drug_list=path("INFUSION_AUDIT_DRUGS"),
            lookback_days=int(env.get("INFUSION_AUDIT_LOOKBACK_DAYS", "7")),
            fee_schedule=path("INFUSION_AUDIT_FEES"),
            ncci_dir=path("INFUSION_AUDIT_NCCI_DIR"),
            mar_format=env.get("INFUSION_AUDIT_MAR_FORMAT") or None,
            claims_format=env.get("INFUSION_AUDIT_CLAIMS_FORMAT") or None,
            x12_account_ref=env.get("INFUSION_AUDIT_X12_ACCOUNT_REF", "CLM01"),
            max_quarantine_share=_share(env.get("INFUSION_AUDIT_MAX_QUARANTINE_SHARE", "0.05")),
            shard_encounters=int(env.get("INFUSION_AUDIT_SHARD_ENCOUNTERS", str(DEFAULT_SHARD_ENCOUNTERS))),
            audit_processes=int(env.get("INFUSION_AUDIT_PROCESSES", str(default_audit_processes()))),
            dask_address=env.get("INFUSION_AUDIT_DASK") or None,
        )

    # --- to and from deployment parameters ----------------------------------------
    def to_params(self) -> dict[str, Any]:
        """Every field as JSON-able values (paths absolute) for deployment parameters."""
        params: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Policy):
                params[f.name] = asdict(value)
            elif isinstance(value, Path):
                params[f.name] = str(value.resolve())
            else:
                params[f.name] = value
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> "Settings":
        """Inverse of :meth:`to_params`; ``None`` or ``{}`` -> :meth:`from_env`.

        Raises:
            ValueError: an unknown parameter, a policy value out of range or
                an unknown time zone.
        """
        if not params:
            return cls.from_env()
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(params) - set(known)
        if unknown:
            raise ValueError(f"unknown settings parameters {sorted(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, raw in params.items():
            kind = str(known[name].type)
            if raw is None:
                values[name] = None
            elif name == "policy":
                values[name] = validate(Policy(**raw))
            elif "Path" in kind:
                values[name] = Path(raw)
            elif kind == "int":
                values[name] = int(raw)
            elif kind == "float":
                values[name] = _share(raw) if name == "max_quarantine_share" else float(raw)
            else:
                values[name] = raw
        ZoneInfo(values.get("facility_tz", cls.facility_tz))
        return cls(**values)

    # --- the parts of a cache key ------------------------------------------------
    def cache_key_parts(self) -> dict[str, Any]:
        """Every field but :data:`EXECUTION_FIELDS` as a JSON-able value that changes whenever an output could.

        Files count by their bytes (a payer map, drug list, fee schedule or
        NCCI folder edited in place changes the key); the lake root by its absolute path,
        since a cached result names files written there.
        """
        parts: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in EXECUTION_FIELDS:
                continue
            value = getattr(self, f.name)
            if isinstance(value, Policy):
                parts[f.name] = asdict(value)
            elif f.name == "lake_root":
                parts[f.name] = str(Path(value).resolve())
            elif isinstance(value, Path):
                parts[f.name] = content_digest(value)
            elif isinstance(value, str) and value.endswith(".toml"):
                parts[f.name] = [value, content_digest(Path(value))]  # a mapping file: its bytes count
            else:
                parts[f.name] = value
        return parts


def _share(raw: object) -> float:
    """A share from text or a number, checked to be 0..1.

    Raises:
        ValueError: not a number, or outside 0..1.
    """
    try:
        share = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"max_quarantine_share must be a number from 0 to 1, not {raw!r}") from None
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"max_quarantine_share must be a number from 0 to 1, not {raw!r}")
    return share


def content_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and bytes, sorted); ``missing`` if absent."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        return "missing"
    for file in files:
        digest.update(f"{file.relative_to(path) if file != path else file.name}\0".encode())
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
