"""MAR events -> the same events with their drug class (the engine's first step)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.frames import on_distinct
from transforms.reference.drugs import DrugReference, classify_drugs
from transforms.vocab.classes import DILUENT, HYDRATION, ML_PER_HOUR
from transforms.vocab.policy import Policy


def _bag_max(values: pd.Series, mar: pd.DataFrame) -> np.ndarray:
    """Largest non-NaN value of each event's bag (``encounter_id``,
    ``infusate_id``), NaN when it has none or a key is missing: the
    ``groupby([...]).transform("max")`` of ``values`` (float), with the two
    text keys hashed once each and the pair grouped as ints."""
    enc, enc_names = pd.factorize(mar["encounter_id"])
    inf, inf_names = pd.factorize(mar["infusate_id"])
    keyed = (enc >= 0) & (inf >= 0)
    bag = np.where(keyed, enc.astype(np.int64) * max(len(inf_names), 1) + inf, -1)
    code, bags = pd.factorize(bag)
    out = np.full(len(bags), np.nan)
    np.fmax.at(out, code, values.to_numpy(dtype=float, na_value=np.nan))
    return np.where(keyed, out[code], np.nan)


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
    volume = _bag_max(pd.to_numeric(mar["volume_ml"], errors="coerce").astype(float), mar)
    small = ((drug_class == HYDRATION) & (cls["class_source"] != "override")
             & (volume < policy.hydration_min_volume_ml))
    return drug_class.where(~small, DILUENT)


def classify_events(mar: pd.DataFrame, reference: DrugReference, policy: Policy) -> pd.DataFrame:
    """Attach ``drug_key``, ``drug_class`` and ``hormonal`` to MAR events."""
    # Keep-vein-open is a property of the bag, not of one event: the rate is
    # often charted on the start only. A bag whose every charted mL/h rate is
    # at or below the KVO rate is KVO; one ever run faster is not.
    rate = None
    if "rate_unit" in mar and "rate" in mar:
        # Few distinct units among many events: each is read once.
        ml_h = on_distinct(mar["rate_unit"], lambda u: u.fillna("").str.lower().str.replace(" ", "").isin(ML_PER_HOUR))
        per_row = pd.to_numeric(mar["rate"], errors="coerce").astype(float).where(ml_h.astype(bool))
        rate = pd.Series(_bag_max(per_row, mar), index=mar.index)
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
    # The events' columns are shared, not copied (drop + assign copied every
    # column twice); the caller's frame is never modified.
    columns = {c: mar[c] for c in mar.columns if c not in ("drug_key", "drug_class", "hormonal")}
    columns |= {
        "drug_key": cls["drug_key"].astype(object).where(cls["drug_key"].notna(), None),
        "drug_class": _below_min_volume_is_kvo(mar, cls, policy),
        "hormonal": cls["hormonal"].astype(bool),
    }
    return pd.DataFrame(columns, index=mar.index, copy=False)
