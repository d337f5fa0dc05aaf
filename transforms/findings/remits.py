"""Dollars from the payer's 835: where a billed line was paid, the paid amount
replaces the fee schedule's estimate in a finding's dollar impact.

Only over-billing of a billed, paid line can be priced from a remittance (a
line never billed was never paid); every other finding keeps the fee
schedule's estimate. A finding priced from the 835 says so in its explanation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.vocab.findings import PRICE_REMITTANCE
from transforms.vocab.schemas import PRICE_BASIS

REMIT_NOTE = " Dollar impact from the amount paid on the 835 remittance, not the fee schedule."


def paid_per_unit(claims: pd.DataFrame) -> pd.DataFrame:
    """Paid dollars per billed unit for each (claim, code) with a matched 835 line.

    Args:
        claims: claim lines with ``paid_amount`` (dollars, NaN when not
            matched) and ``remit_matched`` (from
            :func:`transforms.ingest.adapters.x12.match_remits`).

    Returns:
        ``claim_id``, ``hcpcs``, ``paid_per_unit`` (dollars; units are the
        billed units of the matched lines).
    """
    matched = claims[claims["remit_matched"].astype(bool)]
    if matched.empty:
        return pd.DataFrame(columns=["claim_id", "hcpcs", "paid_per_unit"])
    units = pd.to_numeric(matched["units"], errors="coerce")
    per = matched.assign(_paid=matched["paid_amount"].astype(float), _units=units)
    per = per.groupby(["claim_id", "hcpcs"], as_index=False)[["_paid", "_units"]].sum()
    per["paid_per_unit"] = np.where(per["_units"] > 0, per["_paid"] / per["_units"].where(per["_units"] > 0), np.nan)
    return per[["claim_id", "hcpcs", "paid_per_unit"]].dropna()


def apply_remits(findings: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """``findings`` with ``dollar_impact`` = paid per unit x (billed - expected
    units) where the billed line was paid, the explanation saying so and
    ``price_basis`` ``remittance_835`` (when ``findings`` has that column).

    Invariant: rows, order and columns of ``findings`` are unchanged; only
    rows with more billed than expected units and a paid line change.
    """
    if findings.empty or "remit_matched" not in claims:
        return findings
    rates = paid_per_unit(claims)
    merged = findings[["claim_id", "hcpcs"]].astype(str).merge(
        rates.astype({"claim_id": str, "hcpcs": str}), on=["claim_id", "hcpcs"], how="left")
    per_unit = merged["paid_per_unit"].to_numpy(dtype=float)
    gap = pd.to_numeric(findings["billed_units"]) - pd.to_numeric(findings["expected_units"])
    priced = ~np.isnan(per_unit) & (gap.to_numpy() > 0)
    out = findings.copy()
    out.loc[priced, "dollar_impact"] = (per_unit * gap.to_numpy())[priced]
    out.loc[priced, "explanation"] = out.loc[priced, "explanation"].astype(str) + REMIT_NOTE
    if PRICE_BASIS in out:
        out.loc[priced, PRICE_BASIS] = PRICE_REMITTANCE
    return out
