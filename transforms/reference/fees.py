"""Fee schedule: what one unit of a code is worth, for a finding's dollar impact.

A fee schedule is a CSV with one row per (code, setting):

========================  =====================================================
column                    meaning
========================  =====================================================
``hcpcs``                 CPT / HCPCS code (5 characters)
``setting``               ``facility`` (hospital outpatient, OPPS-style) or
                          ``professional`` (physician, MPFS-style)
``amount``                dollars paid for one unit; empty when the code is not
                          priced in this file (then a finding on it has no
                          dollar figure rather than a wrong one)
``status_indicator``      the payment status of the code in that setting
                          (OPPS status indicator / MPFS status code)
========================  =====================================================

Lines starting with ``#`` are comments. The project ships
``transforms/reference/tables/fee_schedule_sample.csv``: a small ILLUSTRATIVE sample with
made-up amounts (not CMS rates) so the mechanism can be seen working; load
your own file with :func:`load_fee_schedule` for real figures. A user file
replaces the sample entirely; it is never merged with it.

Dollar impact of a finding (:func:`dollar_impact`) is
``(billed_units - expected_units) x amount`` in US dollars: positive means
over-billed, negative under-billed. A code whose status indicator means "no
separate payment" in that setting (:data:`NO_SEPARATE_PAYMENT`, e.g. an OPPS
add-on packaged under ``N``) is worth 0 direct dollars; the finding keeps its
compliance severity. Documentation findings have no dollars (NaN), nor do
codes absent from, or unpriced in, the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.frames import select_labels
from transforms.reference import tables_dir
from transforms.vocab.codes import SETTING_FACILITY, SETTING_PROFESSIONAL, SETTINGS
from transforms.vocab.findings import (
    DOCUMENTATION,
    PRICE_FEE_SCHEDULE,
    PRICE_NO_SCHEDULE,
    PRICE_NO_SEPARATE_PAYMENT,
    PRICE_NOT_IN_SCHEDULE,
    PRICE_NOT_PRICED,
)

SAMPLE_PATH: Path = tables_dir() / "fee_schedule_sample.csv"
FEE_COLUMNS: tuple[str, ...] = ("hcpcs", "setting", "amount", "status_indicator")
# Status indicators that mean "paid as part of another service, no direct
# dollars" per setting: OPPS N (packaged); MPFS B (bundled) and X (excluded
# by statute, e.g. a facility-only code on the physician claim).
NO_SEPARATE_PAYMENT: dict[str, frozenset[str]] = {
    SETTING_FACILITY: frozenset({"N"}),
    SETTING_PROFESSIONAL: frozenset({"B", "X"}),
}


@dataclass(frozen=True)
class FeeSchedule:
    """A loaded fee schedule.

    Attributes:
        table: one row per (``hcpcs``, ``setting``) with ``amount`` (float
            dollars per unit, NaN when unpriced), ``status_indicator`` (str,
            upper case, may be empty) and ``paid_amount`` (``amount``, or 0.0
            under a no-separate-payment status). Invariant: (hcpcs, setting)
            is unique.
        source: the file it was read from.
        illustrative: True for the shipped sample (made-up amounts).
    """

    table: pd.DataFrame
    source: Path
    illustrative: bool


def load_fee_schedule(path: Path | str | None = None) -> FeeSchedule:
    """Read a fee schedule CSV; ``None`` loads the shipped illustrative sample.

    Args:
        path: the user's own file, which replaces the sample entirely.

    Returns:
        A validated :class:`FeeSchedule`.

    Raises:
        ValueError: naming the file (and the 1-based data row where one is
            at fault) for a missing column, an unknown setting, an amount
            that is not a number >= 0, or a duplicate (hcpcs, setting).
        FileNotFoundError: the file does not exist.
    """
    source = SAMPLE_PATH if path is None else Path(path)
    raw = pd.read_csv(source, dtype=str, keep_default_na=False, comment="#", skip_blank_lines=True)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in FEE_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{source}: fee schedule is missing column(s) {', '.join(missing)}")
    t = pd.DataFrame(
        {
            "hcpcs": raw["hcpcs"].str.strip().str.upper(),
            "setting": raw["setting"].str.strip().str.lower(),
            "amount": pd.to_numeric(raw["amount"].str.strip().replace("", np.nan).str.replace(r"[$,]", "",
                                                                                               regex=True),
                                    errors="coerce"),
            "status_indicator": raw["status_indicator"].str.strip().str.upper(),
        }
    )
    row = pd.Series(np.arange(1, len(t) + 1), index=t.index)
    bad_setting = ~t["setting"].isin(SETTINGS)
    bad_amount = (raw["amount"].str.strip() != "") & (t["amount"].isna() | (t["amount"] < 0))
    dup = t.duplicated(["hcpcs", "setting"], keep="first")
    for mask, what in ((bad_setting, "setting must be facility or professional"),
                       (bad_amount, "amount must be a number >= 0 (or empty)"),
                       (t["hcpcs"] == "", "hcpcs is empty"),
                       (dup, "duplicate (hcpcs, setting)")):
        if mask.any():
            first = int(row[mask].iloc[0])
            raise ValueError(f"{source}: data row {first}: {what}")
    no_pay = pd.Series(False, index=t.index)
    for setting, codes in NO_SEPARATE_PAYMENT.items():
        no_pay |= (t["setting"] == setting) & t["status_indicator"].isin(codes)
    t["paid_amount"] = t["amount"].where(~no_pay, 0.0)
    return FeeSchedule(table=t.reset_index(drop=True), source=source, illustrative=path is None)


def unit_amounts(hcpcs: pd.Series, setting: pd.Series, fees: FeeSchedule) -> pd.Series:
    """Dollars per unit actually paid for each (code, setting) pair.

    Returns:
        float Series aligned with ``hcpcs``; 0.0 under a no-separate-payment
        status; NaN when the code is not in, or not priced in, the schedule.
    """
    keys = pd.DataFrame({"hcpcs": hcpcs.astype(str).to_numpy(), "setting": setting.astype(str).to_numpy()})
    got = keys.merge(fees.table[["hcpcs", "setting", "paid_amount"]], on=["hcpcs", "setting"], how="left")
    return pd.Series(got["paid_amount"].to_numpy(dtype=float), index=hcpcs.index)


def dollar_impact(findings: pd.DataFrame, fees: FeeSchedule | None) -> pd.Series:
    """``(billed_units - expected_units) x amount`` per finding, in dollars.

    Args:
        findings: rows with ``hcpcs``, ``setting``, ``billed_units``,
            ``expected_units`` and ``direction``.
        fees: the schedule; ``None`` gives NaN everywhere (no schedule, no
            dollars).

    Returns:
        float Series aligned with ``findings``, rounded to cents; NaN for
        documentation findings and for codes the schedule does not price.
    """
    if fees is None or findings.empty:
        return pd.Series(np.nan, index=findings.index, dtype=float)
    per_unit = unit_amounts(findings["hcpcs"].fillna(""), findings["setting"].fillna(""), fees)
    units = findings["billed_units"].astype("int64") - findings["expected_units"].astype("int64")
    out = (units * per_unit).round(2)
    return out.where(findings["direction"] != DOCUMENTATION, np.nan)


def price_basis(findings: pd.DataFrame, fees: FeeSchedule | None) -> pd.Series:
    """Where each finding's :func:`dollar_impact` comes from, so that an empty
    or $0 amount is explained, never guessed (:data:`transforms.vocab.findings.PRICE_BASES`).

    Args:
        findings: rows with ``hcpcs``, ``setting`` and ``direction``.
        fees: the schedule, or ``None``.

    Returns:
        str Series aligned with ``findings``: ``not_priced`` for documentation
        findings; else ``no_fee_schedule`` without a schedule;
        ``no_separate_payment`` under a no-separate-payment status (0 dollars);
        ``not_in_fee_schedule`` for a code the schedule does not list or
        price; ``fee_schedule`` otherwise. An 835 later overrides the basis of
        the lines it prices (:func:`transforms.findings.remits.apply_remits`).
    """
    doc = findings["direction"].eq(DOCUMENTATION).to_numpy()
    if fees is None:
        basis = select_labels([doc], [PRICE_NOT_PRICED], PRICE_NO_SCHEDULE)
        return pd.Series(basis, index=findings.index, dtype=object)
    keys = pd.DataFrame({"hcpcs": findings["hcpcs"].fillna("").astype(str).to_numpy(),
                         "setting": findings["setting"].fillna("").astype(str).to_numpy()})
    got = keys.merge(fees.table[["hcpcs", "setting", "amount", "status_indicator"]],
                     on=["hcpcs", "setting"], how="left")
    no_pay = np.zeros(len(got), dtype=bool)
    for setting, codes in NO_SEPARATE_PAYMENT.items():
        no_pay |= (got["setting"].eq(setting) & got["status_indicator"].isin(codes)).to_numpy()
    unpriced = got["amount"].isna().to_numpy()
    out = select_labels([doc, no_pay, unpriced], [PRICE_NOT_PRICED, PRICE_NO_SEPARATE_PAYMENT, PRICE_NOT_IN_SCHEDULE],
                        default=PRICE_FEE_SCHEDULE)
    return pd.Series(out, index=findings.index, dtype=object)
