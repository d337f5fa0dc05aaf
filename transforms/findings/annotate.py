"""Direction, severity and dollar impact: the last step of every finding.

Runs ONCE per audit, over every source of findings together (the MAR
comparison of both settings, professional lines in a facility place of
service, the NCCI claim edits): :func:`transforms.audit.run_audit` calls it
after concatenating them; :func:`transforms.findings.compare.compare` calls
it for its one setting.

* ``direction``: ``over_billed`` (compliance risk), ``under_billed`` (lost
  revenue) or ``documentation``; the key's
  (:data:`transforms.vocab.findings.DIRECTION`), except that a line of a
  billing key whose units go the other way takes that way
  (:func:`line_direction`): a wrong initial code is two lines, the code billed
  (over) and the code it displaced (under), so dollars always follow the
  direction (over-billed positive, under-billed negative).
* ``severity``: ``high`` / ``medium`` / ``low`` by :func:`severity` (the rule
  is in its docstring).
* ``dollar_impact``: ``(billed_units - expected_units) x amount`` from a fee
  schedule (:mod:`transforms.reference.fees`); NaN without a schedule and for
  documentation findings; 0 for a code paid only as part of another service
  (OPPS status ``N``), which keeps its severity.
* ``price_basis``: where those dollars come from
  (:func:`transforms.reference.fees.price_basis`): the reason an amount is
  empty or $0 is recorded, not left to the reader to guess.
"""

from __future__ import annotations

import pandas as pd

from transforms.frames import select_labels
from transforms.reference.fees import FeeSchedule, dollar_impact, price_basis
from transforms.vocab.codes import STRUCTURAL_CODES
from transforms.vocab.findings import DIRECTION, DOCUMENTATION, HIGH, HIGH_KEYS, LOW, MEDIUM, OVER, UNDER
from transforms.vocab.schemas import FINDING_ANNOTATED_COLUMNS, PRICE_BASIS


def severity(findings: pd.DataFrame) -> pd.Series:
    """Severity of each finding (``high`` / ``medium`` / ``low``).

    The rule:

    * over-billed (compliance risk): ``high`` when the code is an initial,
      sequential or concurrent code (96360, 96365, 96369, 96374, 96409,
      96413, 96367, 96417, 96368: the codes that set a claim's structure and
      that RAC and payer audits target), or the key is one where the whole
      line should not be on the claim (:data:`HIGH_KEYS`); otherwise
      ``medium`` (add-on hours, pushes, hydration units, injections, MUE and
      PTP edits on other codes).
    * under-billed (lost revenue): ``medium`` for a structural code or
      ``administration_not_billed``; otherwise ``low``.
    * documentation: ``medium`` for ``missing_stop_time`` (units depend on
      it, D3) and ``mar_event_not_used`` (a stop, rate change or pause the
      timeline had to leave out: the charted minutes are in doubt);
      otherwise ``low``.

    Severity never depends on dollars: an add-on packaged under OPPS status
    ``N`` (0 direct dollars) keeps it.
    """
    d = findings["direction"]
    h = findings["hcpcs"].fillna("")
    k = findings["finding"]
    structural = h.isin(STRUCTURAL_CODES)
    out = select_labels(
        [
            (d == OVER) & (structural | k.isin(HIGH_KEYS)),
            d == OVER,
            (d == UNDER) & (structural | (k == "administration_not_billed")),
            d == UNDER,
            (d == DOCUMENTATION) & k.isin(["missing_stop_time", "mar_event_not_used"]),
        ],
        [HIGH, MEDIUM, MEDIUM, LOW, MEDIUM],
        default=LOW,
    )
    return pd.Series(out, index=findings.index, dtype=object)


def line_direction(findings: pd.DataFrame) -> pd.Series:
    """Each finding's direction: its key's, turned by the line's units for billing keys.

    A finding of an over- or under-billing key whose line has fewer billed than
    expected units is ``under_billed``, more is ``over_billed``; equal units
    (a modifier or pairing finding) and documentation keys keep the key's.
    """
    keyed = findings["finding"].map(DIRECTION)
    keyed = keyed.fillna(findings.get("direction", pd.Series(index=findings.index, dtype=object)))
    billed = pd.to_numeric(findings["billed_units"], errors="coerce")
    expected = pd.to_numeric(findings["expected_units"], errors="coerce")
    billing = keyed.isin([OVER, UNDER])
    out = keyed.to_numpy(dtype=object, copy=True)  # the keys' own objects: one per label, not per row
    out[(billing & (billed > expected)).to_numpy()] = OVER
    out[(billing & (billed < expected)).to_numpy()] = UNDER
    return pd.Series(out, index=findings.index, dtype=object)


def annotate(findings: pd.DataFrame, fees: FeeSchedule | None = None) -> pd.DataFrame:
    """Set ``direction`` (from the key), ``severity``, ``dollar_impact`` and ``price_basis``.

    Args:
        findings: rows with at least ``finding``, ``hcpcs``, ``setting``,
            ``billed_units`` and ``expected_units``.
        fees: fee schedule; ``None`` leaves ``dollar_impact`` NaN.

    Returns:
        A copy with the four columns set, in :data:`FINDING_ANNOTATED_COLUMNS`
        order (extra columns dropped; a missing one is ``""``).
    """
    f = findings.copy(deep=False)  # columns are only set whole (a new array each): ``findings`` is unchanged
    f["direction"] = line_direction(f)
    f["severity"] = severity(f)
    f["dollar_impact"] = dollar_impact(f, fees)
    f[PRICE_BASIS] = price_basis(f, fees)
    for col in FINDING_ANNOTATED_COLUMNS:
        if col not in f:
            f[col] = ""
    f["claim_id"] = f["claim_id"].astype(object)
    return f[list(FINDING_ANNOTATED_COLUMNS)]
