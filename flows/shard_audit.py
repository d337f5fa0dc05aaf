"""One shard's audit with the run's reference tables: what a helper process runs.

Kept apart from :mod:`flows.pipeline` (which imports Great Expectations, about
9 s) so that a helper process (:mod:`flows.shard_workers`) imports only the
engine. The reference tables are loaded once per process (``lru_cache``):
the run's process and each helper read them once each.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from flows.settings import Settings
from transforms.audit import AuditResult, StepSeconds, run_audit
from transforms.payers import PayerMap, load_payer_map
from transforms.reference.drugs import DrugReference, load_drug_reference
from transforms.reference.fees import FeeSchedule, load_fee_schedule
from transforms.reference.ncci import EditTables, load_edit_directory
from transforms.shards import Shard, iter_shards, take_results

#: Administration columns the engine and the comparison read but no output, summary or
#: lake dataset does: ``evidence`` is a text of its own per administration (about 0.3 GB
#: at a million encounters); the expected lines and findings carry their own evidence.
ENGINE_ONLY_ADMINISTRATION_COLUMNS: tuple[str, ...] = ("evidence",)


@lru_cache(maxsize=4)
def _drug_reference(extra: Path | None) -> DrugReference:
    return load_drug_reference(extra=extra)


@lru_cache(maxsize=4)
def _fees(path: Path | None) -> FeeSchedule:
    return load_fee_schedule(path)


@lru_cache(maxsize=4)
def _edits(directory: Path | None) -> EditTables | None:
    return load_edit_directory(directory) if directory is not None else None


@lru_cache(maxsize=4)
def _payer_map(path: Path | None) -> PayerMap | None:
    return load_payer_map(path) if path is not None else None


def drug_reference(settings: Settings) -> DrugReference:
    """The shipped drug reference plus the user's own list, loaded once per process."""
    return _drug_reference(settings.drug_list)


def references(settings: Settings) -> dict[str, Any]:
    """The reference tables of ``settings`` as :func:`~transforms.audit.run_audit` keywords."""
    return {"reference": drug_reference(settings), "edits": _edits(settings.ncci_dir),
            "fees": _fees(settings.fee_schedule), "payer_map": _payer_map(settings.payer_map)}


def audit_shard(
    shard: Shard, settings: Settings, timed: bool = False, piece_encounters: int | None = None
) -> tuple[AuditResult, StepSeconds]:
    """One shard's audit, ready for the outputs (:func:`for_outputs`), and its steps' seconds
    (empty unless ``timed``).

    ``piece_encounters``: audit the shard in pieces of at most that many
    encounters (:func:`~transforms.shards.iter_shards`) and combine the
    results, the same frames: a helper process does, so that it holds a
    piece's working frames beside the run's, not a whole shard's."""
    seconds = StepSeconds()
    pieces = [shard] if piece_encounters is None else iter_shards(shard.mar, shard.claims, piece_encounters)
    parts = [for_outputs(run_audit(piece.mar, piece.claims, policy=settings.policy, facility_tz=settings.facility_tz,
                                   timer=seconds if timed else None, **references(settings)))
             for piece in pieces]
    return take_results(parts), seconds


def for_outputs(result: AuditResult) -> AuditResult:
    """``result`` without :data:`ENGINE_ONLY_ADMINISTRATION_COLUMNS`; the other columns are
    shared with ``result``'s frame, not copied (``drop`` would copy every one of them)."""
    admins = result.administrations
    if not any(c in admins.columns for c in ENGINE_ONLY_ADMINISTRATION_COLUMNS):
        return result
    kept = {c: admins[c] for c in admins.columns if c not in ENGINE_ONLY_ADMINISTRATION_COLUMNS}
    return replace(result, administrations=pd.DataFrame(kept, index=admins.index, copy=False))
