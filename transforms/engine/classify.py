"""MAR events -> the same events with their drug class (the engine's first step)."""

from __future__ import annotations

import pandas as pd

from transforms.reference.drugs import DrugReference, classify_drugs
from transforms.vocab.classes import DILUENT, HYDRATION, ML_PER_HOUR
from transforms.vocab.policy import Policy


def _below_min_volume_is_kvo(mar: pd.DataFrame, cls: pd.DataFrame, policy: Policy) -> pd.Series:
    """The class of each event, a hydration bag smaller than the payer's
    minimum volume (policy ``hydration_min_volume_ml``, D16) made ``diluent``
    like keep-vein-open fluid (R-G3).

    The bag's volume is the largest ``volume_ml`` charted on its rows (mL);
    a bag with none is not judged, and an explicit MAR class is kept, as for
    the KVO rate.
    """
    drug_class = cls["drug_class"].astype(str)
    if policy.hydration_min_volume_ml <= 0 or "volume_ml" not in mar:
        return drug_class
    volume = pd.to_numeric(mar["volume_ml"], errors="coerce").groupby(
        [mar["encounter_id"], mar["infusate_id"]], sort=False).transform("max")
    small = ((drug_class == HYDRATION) & (cls["class_source"] != "override")
             & (volume < policy.hydration_min_volume_ml).to_numpy())
    return drug_class.where(~small, DILUENT)


def classify_events(mar: pd.DataFrame, reference: DrugReference, policy: Policy) -> pd.DataFrame:
    """Attach ``drug_key``, ``drug_class`` and ``hormonal`` to MAR events."""
    # Keep-vein-open is a property of the bag, not of one event: the rate is
    # often charted on the start only. A bag whose every charted mL/h rate is
    # at or below the KVO rate is KVO; one ever run faster is not.
    rate = None
    if "rate_unit" in mar and "rate" in mar:
        ml_h = mar["rate_unit"].fillna("").str.lower().str.replace(" ", "").isin(ML_PER_HOUR)
        per_row = pd.to_numeric(mar["rate"], errors="coerce").where(ml_h)
        rate = per_row.groupby([mar["encounter_id"], mar["infusate_id"]], sort=False).transform("max")
    cls = classify_drugs(
        mar["drug"],
        reference,
        ndc=mar.get("ndc"),
        rxnorm=mar.get("rxnorm"),  # extra column of the FHIR adapter; absent elsewhere
        override=mar.get("drug_class"),
        rate_ml_h=rate,
        electrolyte_in_fluid=policy.electrolyte_in_fluid,
        kvo_max_rate_ml_h=policy.kvo_max_rate_ml_h,
    )
    out = mar.drop(columns=[c for c in ("drug_key", "drug_class", "hormonal") if c in mar])
    return out.assign(
        drug_key=cls["drug_key"].astype(object).where(cls["drug_key"].notna(), None),
        drug_class=_below_min_volume_is_kvo(mar, cls, policy),
        hormonal=cls["hormonal"].astype(bool),
    )
