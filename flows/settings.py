"""Run settings: one object, read from the environment, overridable per call.

| variable | default | meaning |
| --- | --- | --- |
| INFUSION_AUDIT_LAKE | data/lake | lake root folder |
| INFUSION_AUDIT_TZ | America/New_York | facility time zone for local times and line dates |
| INFUSION_AUDIT_POLICY | cms_facility | policy profile |
| INFUSION_AUDIT_POLICY_FILE | (none) | TOML file of policy overrides |
| INFUSION_AUDIT_DRUGS | (none) | your own drug list (same columns as transforms/reference/tables/drugs.csv) |
| INFUSION_AUDIT_LOOKBACK_DAYS | 7 | days of earlier extracts read to complete an encounter |
| INFUSION_AUDIT_FEES | transforms/reference/tables/fee_schedule_sample.csv | fee schedule for dollar impact (the sample's amounts are illustrative) |
| INFUSION_AUDIT_NCCI_DIR | (none: no MUE/PTP checks) | folder of CMS MUE CSVs and NCCI PTP files (ccioph/ccipra) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from transforms.vocab.policy import Policy, load_policy


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides its input files."""

    lake_root: Path = Path("data/lake")
    facility_tz: str = "America/New_York"
    policy: Policy = field(default_factory=Policy)
    drug_list: Path | None = None
    lookback_days: int = 7
    fee_schedule: Path | None = None
    ncci_dir: Path | None = None

    def with_(self, **changes: object) -> "Settings":
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """Settings from ``INFUSION_AUDIT_*`` variables (see module doc)."""
        env = dict(os.environ if env is None else env)
        tz = env.get("INFUSION_AUDIT_TZ", "America/New_York")
        ZoneInfo(tz)  # fail early on a misspelt zone
        policy_file = env.get("INFUSION_AUDIT_POLICY_FILE")
        drugs = env.get("INFUSION_AUDIT_DRUGS")
        fees = env.get("INFUSION_AUDIT_FEES")
        ncci = env.get("INFUSION_AUDIT_NCCI_DIR")
        return cls(
            lake_root=Path(env.get("INFUSION_AUDIT_LAKE", "data/lake")),
            facility_tz=tz,
            policy=load_policy(
                env.get("INFUSION_AUDIT_POLICY", "cms_facility"),
                Path(policy_file) if policy_file else None,
            ),
            drug_list=Path(drugs) if drugs else None,
            lookback_days=int(env.get("INFUSION_AUDIT_LOOKBACK_DAYS", "7")),
            fee_schedule=Path(fees) if fees else None,
            ncci_dir=Path(ncci) if ncci else None,
        )
