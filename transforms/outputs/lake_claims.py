"""Which claim lines of the lake are current, across nights (pure pandas).

A claim is billed as a whole: a replacement (``claim_frequency`` 7) resends
every line of the claim, a void (8) cancels it. The readers already settle
this inside one extract (:func:`transforms.ingest.readers.stage_claims`
quarantines superseded lines as ``SUPERSEDED_BY_REPLACEMENT`` and voided ones
as ``VOIDED``); this module settles it across the nights of the lake.

Rule: for each ``claim_id`` the newest partition that mentions it wins
wholesale. A mention is a kept claim line, or a quarantined line with reason
``VOIDED`` (the void's record in the lake). So a replacement with fewer lines
leaves no stale lines, and a void on a later night removes the claim.
"""

from __future__ import annotations

import pandas as pd

from transforms.vocab.schemas import VOIDED


def voided_claims(quarantine: pd.DataFrame, key: str) -> pd.DataFrame:
    """``claim_id`` and partition ``key`` of the voided lines of a quarantine table (one row per claim and day)."""
    if quarantine.empty or "claim_id" not in quarantine or "reason" not in quarantine:
        return pd.DataFrame({"claim_id": pd.Series(dtype=object), key: pd.Series(dtype=object)})
    voided = quarantine["reason"].astype("string").str.contains(VOIDED, regex=False, na=False)
    rows = quarantine.loc[voided & quarantine["claim_id"].notna() & quarantine["claim_id"].ne(""), ["claim_id", key]]
    return rows.drop_duplicates().reset_index(drop=True)


def current_claim_lines(claims: pd.DataFrame, voids: pd.DataFrame, key: str) -> pd.DataFrame:
    """The lines of ``claims`` whose partition ``key`` is the newest mention of their claim.

    Args:
        claims: claim lines with their partition column ``key``.
        voids: :func:`voided_claims` (``claim_id``, ``key``).
        key: the partition column (comparable dates).

    Returns:
        ``claims`` filtered, rows in their order. Lines without a ``claim_id``
        are kept (validation rejects them anyway). A claim whose newest
        mention is a void has no line left.
    """
    if claims.empty:
        return claims
    mentions = pd.concat([claims[["claim_id", key]], voids[["claim_id", key]]], ignore_index=True)
    newest = mentions.dropna(subset=["claim_id"]).groupby("claim_id")[key].max()
    is_newest = claims[key].to_numpy() == claims["claim_id"].map(newest).to_numpy()
    return claims[is_newest | claims["claim_id"].isna().to_numpy()]


def touched_encounters(claims: pd.DataFrame, voids: pd.DataFrame, day: object, key: str) -> set[str]:
    """Encounters of the claims voided on ``day`` (read from their older lines), to be audited again."""
    ids = set(voids.loc[voids[key] == day, "claim_id"]) if not voids.empty else set()
    if not ids or claims.empty:
        return set()
    return set(claims.loc[claims["claim_id"].isin(ids), "encounter_id"].dropna())


def current_audit_rows(rows: pd.DataFrame, audited: pd.DataFrame, key: str) -> pd.DataFrame:
    """The rows of ``rows`` (findings or expected lines) from each encounter's newest audit.

    A night audits the encounters it touched (new MAR or claim lines, or a
    void) over its lookback window, so an encounter is often audited on
    several nights; its newest audit is its current state. An encounter whose
    newest audit found nothing has no current row, so a void that removes
    every billed line leaves no stale over-billing finding behind.

    Args:
        rows: rows with ``encounter_id`` and the partition column ``key``.
        audited: the ``audited_encounters`` rows (``encounter_id``, ``key``).
        key: the partition column (comparable dates).

    Returns:
        ``rows`` filtered, in their order. An encounter absent from ``audited``
        (a lake written before that dataset existed) keeps the rows of its
        newest partition in ``rows``.
    """
    if rows.empty:
        return rows
    mentions = pd.concat([rows[["encounter_id", key]], audited[["encounter_id", key]]], ignore_index=True)
    newest = mentions.groupby("encounter_id")[key].max()
    return rows[rows[key].to_numpy() == rows["encounter_id"].map(newest).to_numpy()]
