"""Vascular access sites: which charted sites are one access (R-B1, R-B3, R-B4).

:func:`normalise_site` folds the lumens of one catheter into one site while
the timeline is built; :func:`assign_site_groups` then decides which sites of
an encounter are separate accesses, and which charted visits of an encounter
are separate visits (R-B5); each access of each visit may carry its own
initial service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from transforms.frames import overlapping_pairs
from transforms.vocab.classes import DILUENT, NOT_REPORTABLE
from transforms.vocab.codes import SEPARATE_SITE_MODIFIER
from transforms.vocab.policy import Policy

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


def normalise_visit(visit_id: pd.Series) -> pd.Series:
    """Charted ``visit_id`` -> visit identity (stripped text); missing -> ``""``.

    ``""`` means no separate visit was documented (contract section 1).
    """
    text = visit_id.astype("string").fillna("").str.strip()
    return pd.Series(text.astype(object).to_numpy(), index=visit_id.index, dtype=object, name=visit_id.name)


def _visit_groups(admins: pd.DataFrame) -> pd.Series:
    """Visit number of each administration within its encounter (int64).

    0 is the encounter's first visit; each further documented visit (a
    different non-empty ``visit`` id, R-B5, D10) is numbered in the order of
    its first administration. Rows charted with no visit id (``""``) belong
    to visit 0, so an encounter without visit ids is one visit.
    """
    visit = admins["visit"] if "visit" in admins else pd.Series("", index=admins.index, dtype=object)
    first = (
        admins.assign(visit=visit, _undocumented=visit.eq(""))
        .groupby(["encounter_id", "visit"], sort=False)
        .agg(start=("start", "min"), undocumented=("_undocumented", "first")).reset_index()
        .sort_values(["encounter_id", "undocumented", "start", "visit"], ascending=[True, False, True, True],
                     kind="mergesort")
    )
    first["visit_group"] = first.groupby("encounter_id", sort=False).cumcount()
    # An encounter with undocumented rows and one visit id is still one visit.
    has_undocumented = first.groupby("encounter_id", sort=False)["undocumented"].transform("max")
    first["visit_group"] = np.where(has_undocumented & ~first["undocumented"],
                                    first["visit_group"] - 1, first["visit_group"])
    key = pd.MultiIndex.from_frame(first[["encounter_id", "visit"]])
    rows = key.get_indexer(pd.MultiIndex.from_arrays([admins["encounter_id"], visit]))
    return pd.Series(first["visit_group"].to_numpy(dtype="int64")[rows], index=admins.index, name="visit_group")


def assign_site_groups(timeline: Timeline) -> pd.DataFrame:
    """Site group per administration: 0 for the main access, 1.. for others.

    Within each visit of an encounter (:func:`_visit_groups`; one visit
    unless separate visits are documented, R-B5) the main access is the site
    of the visit's first reportable block. A site is a separate access only
    when something runs on it while something runs on the main site (R-B3);
    otherwise (a restart after infiltration, R-B4) it joins the main access.
    Separate sites are numbered in the order of their first block that
    overlaps the main site. Lumens were already folded into one site by
    :func:`normalise_site`. Groups are numbered across the encounter: visit
    0's groups first, then visit 1's, so each group has one initial service.

    Returns:
        ``timeline.administrations`` (same row order, new RangeIndex) with
        added ``site_group`` (int64, unique per encounter), ``visit_group``
        (int64, 0 = first visit) and ``separate_site`` (bool: a second access
        within its visit, R-B3) columns.
    """
    admins = timeline.administrations.reset_index(drop=True)
    visit_group = _visit_groups(admins)
    # The grouping key is encounter + visit; a first visit's key is the
    # encounter id itself, so encounters without visits group as before.
    key = admins["encounter_id"].astype(str).where(
        visit_group.eq(0), admins["encounter_id"].astype(str) + "\x1f" + visit_group.astype(str))
    keyed = admins.assign(_key=key, visit_group=visit_group)
    local = _site_groups_within(keyed, timeline.blocks)
    # Groups of later visits follow those of earlier visits in one encounter.
    per_visit = (pd.DataFrame({"encounter_id": admins["encounter_id"], "visit_group": visit_group, "n": local + 1})
                 .groupby(["encounter_id", "visit_group"], sort=True)["n"].max())
    offset = per_visit.groupby(level="encounter_id").cumsum() - per_visit
    rows = offset.index.get_indexer(pd.MultiIndex.from_arrays([admins["encounter_id"], visit_group]))
    out = admins.copy()
    out["site_group"] = (local + offset.to_numpy()[rows]).astype("int64")
    out["visit_group"] = visit_group.to_numpy()
    out["separate_site"] = local > 0
    return out


def _site_groups_within(keyed: pd.DataFrame, all_blocks: pd.DataFrame) -> np.ndarray:
    """Site group (0 = main access) of each row of ``keyed`` within its
    ``_key`` (encounter + visit), as int64 in ``keyed`` row order (R-B3, R-B4).
    """
    # Only reportable services open or use an access: a KVO line or a flush
    # on another site is not a second site in use (R-G3).
    reportable = keyed[keyed["has_blocks"] & ~keyed["drug_class"].isin([DILUENT, NOT_REPORTABLE])]
    blocks = all_blocks.merge(reportable[["encounter_id", "service_key", "_key"]], on=["encounter_id", "service_key"])
    first_site = (
        blocks.sort_values(["_key", "start"], kind="mergesort")
        .drop_duplicates("_key")[["_key", "site"]]
        .rename(columns={"site": "main_site"})
    )
    b = blocks.merge(first_site, on="_key")
    main = b[b["site"] == b["main_site"]][["_key", "start", "end"]]
    other = b[(b["site"] != b["main_site"]) & (b["site"] != "")][["_key", "site", "start", "end"]]
    # Blocks of other sites that overlap a main-site block, by sorted search.
    hits, _ = overlapping_pairs(other["_key"], other["start"], other["end"],
                                main["_key"], main["start"], main["end"])
    overlapping = other.iloc[np.unique(hits)]
    separate = (
        overlapping.groupby(["_key", "site"], sort=False)["start"].min().reset_index()
        .sort_values(["_key", "start"], kind="mergesort")
    )
    separate["site_group"] = separate.groupby("_key").cumcount() + 1
    out = keyed[["_key", "site"]].merge(separate[["_key", "site", "site_group"]], on=["_key", "site"], how="left")
    return out["site_group"].fillna(0).to_numpy(dtype="int64")


def initial_modifiers(frame: pd.DataFrame, admins: pd.DataFrame, policy: Policy) -> np.ndarray:
    """Modifier of each initial line of ``frame`` (object array).

    ``frame`` has ``encounter_id`` and ``site_group``; ``admins`` are those
    of :func:`assign_site_groups`. A second access within a visit carries XU
    (R-B3); the main access of a later, separate visit carries policy
    ``separate_visit_modifier`` (59 or XE, R-B5, D10); the first visit's
    main access none.
    """
    groups = admins.drop_duplicates(["encounter_id", "site_group"])
    index = pd.MultiIndex.from_frame(groups[["encounter_id", "site_group"]])
    rows = index.get_indexer(pd.MultiIndex.from_arrays([frame["encounter_id"], frame["site_group"]]))
    found = rows >= 0
    separate_site = np.where(found, groups["separate_site"].to_numpy(dtype=bool)[rows], frame["site_group"].to_numpy() > 0)
    later_visit = np.where(found, groups["visit_group"].to_numpy(dtype="int64")[rows] > 0, False)
    return np.select([separate_site, later_visit], [SEPARATE_SITE_MODIFIER, policy.separate_visit_modifier],
                     default="").astype(object)
