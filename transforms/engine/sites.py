"""Vascular access sites: which charted sites are one access (R-B1, R-B3, R-B4).

:func:`normalise_site` folds the lumens of one catheter into one site while
the timeline is built; :func:`assign_site_groups` then decides which sites of
an encounter are separate accesses, each of which may carry its own initial
service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from transforms.frames import overlapping_pairs
from transforms.vocab.classes import DILUENT, NOT_REPORTABLE

if TYPE_CHECKING:
    from transforms.engine.timeline import Timeline

_LUMEN_WORDS = (
    r"\b(?:lumen|lm|port|line)\s*#?\s*\d+\b"
    r"|\b(?:distal|proximal|medial|red|white|blue|purple|brown|gray|grey)\b(?:\s+lumen)?"
    r"|\blumen\b"
)


def normalise_site(site: pd.Series) -> pd.Series:
    """Access site text -> site identity; lumens of one catheter are one site.

    ``R IJ CVC lumen 2`` and ``R IJ CVC red lumen`` both become ``r ij cvc``
    (R-B4, NCCI ch. XI). A missing site becomes ``""``: the encounter's main
    site.
    """
    # Few distinct sites among many events: each distinct text is read once.
    codes, distinct = pd.factorize(site)
    s = pd.Series(distinct, dtype=object).astype("string")
    s = pd.concat([s, pd.Series([""], dtype="string")], ignore_index=True).fillna("").str.lower()
    s = s.str.replace(_LUMEN_WORDS, " ", regex=True)
    s = s.str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    # A missing site (code -1) takes the last entry: the text of "".
    return pd.Series(s.astype(object).to_numpy()[codes], index=site.index, dtype=object, name=site.name)


def assign_site_groups(timeline: Timeline) -> pd.DataFrame:
    """Site group per administration: 0 for the main access, 1.. for others.

    The main access is the site of the encounter's first reportable block. A
    site is a separate access only when something runs on it while something
    runs on the main site (R-B3); otherwise (a restart after infiltration,
    R-B4) it joins group 0. Separate sites are numbered in the order of
    their first block that overlaps the main site. Lumens were already folded
    into one site by :func:`normalise_site`.

    Returns:
        ``timeline.administrations`` (same row order, new RangeIndex) with an
        added ``site_group`` column (int64).
    """
    admins = timeline.administrations
    # Only reportable services open or use an access: a KVO line or a flush
    # on another site is not a second site in use (R-G3).
    reportable = admins[admins["has_blocks"] & ~admins["drug_class"].isin([DILUENT, NOT_REPORTABLE])]
    blocks = timeline.blocks.merge(reportable[["encounter_id", "service_key"]], on=["encounter_id", "service_key"])
    first_site = (
        blocks.sort_values(["encounter_id", "start"], kind="mergesort")
        .drop_duplicates("encounter_id")[["encounter_id", "site"]]
        .rename(columns={"site": "main_site"})
    )
    b = blocks.merge(first_site, on="encounter_id")
    main = b[b["site"] == b["main_site"]][["encounter_id", "start", "end"]]
    other = b[(b["site"] != b["main_site"]) & (b["site"] != "")][["encounter_id", "site", "start", "end"]]
    # Blocks of other sites that overlap a main-site block, by sorted search.
    hits, _ = overlapping_pairs(other["encounter_id"], other["start"], other["end"],
                                main["encounter_id"], main["start"], main["end"])
    overlapping = other.iloc[np.unique(hits)]
    separate = (
        overlapping.groupby(["encounter_id", "site"], sort=False)["start"].min().reset_index()
        .sort_values(["encounter_id", "start"], kind="mergesort")
    )
    separate["site_group"] = separate.groupby("encounter_id").cumcount() + 1
    out = admins.merge(separate[["encounter_id", "site", "site_group"]], on=["encounter_id", "site"], how="left")
    out["site_group"] = out["site_group"].fillna(0).astype("int64")
    return out
