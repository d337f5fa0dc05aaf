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

from transforms.sort_keys import lexsort_ints
from transforms.frames import factorize_shared, group_codes, overlapping_pairs_int, run_starts, take_or
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
    codes, distinct = factorize_shared(site)
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


def _visit_groups(admins: pd.DataFrame, enc: np.ndarray) -> np.ndarray:
    """Visit number of each administration within its encounter (int64).

    0 is the encounter's first visit; each further documented visit (a
    different non-empty ``visit`` id, R-B5, D10) is numbered in the order of
    its first administration (ties: by visit id). Rows charted with no visit
    id (``""``) belong to visit 0, so an encounter without visit ids is one
    visit. ``enc`` is the encounter code of each row (sorted codes).
    """
    if "visit" not in admins or not admins["visit"].ne("").any():
        return np.zeros(len(admins), dtype=np.int64)
    visit_code, visit_names = pd.factorize(admins["visit"], sort=True)
    group = group_codes(enc, visit_code)
    n_groups = int(group.max()) + 1
    first_row = np.full(n_groups, len(admins), dtype=np.int64)
    np.minimum.at(first_row, group, np.arange(len(admins)))
    g_start = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(g_start, group, admins["start"].dt.as_unit("ns").array.asi8)
    g_enc, g_visit = enc[first_row], visit_code[first_row]
    g_undocumented = np.asarray(visit_names, dtype=object)[g_visit] == ""
    # Undocumented rows first, then visits by first start, then by visit id.
    order = lexsort_ints((g_visit, g_start, ~g_undocumented, g_enc))
    enc_sorted = g_enc[order]
    starts = run_starts(enc_sorted)
    run_len = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, run_len)
    # An encounter with undocumented rows and one visit id is still one visit.
    has_undocumented = np.repeat(np.logical_or.reduceat(g_undocumented[order], starts), run_len)
    rank = np.where(has_undocumented & ~g_undocumented[order], rank - 1, rank)
    visit_group = np.empty(n_groups, dtype=np.int64)
    visit_group[order] = rank
    return visit_group[group]


def block_admins(blocks: pd.DataFrame, admins: pd.DataFrame, enc: np.ndarray,
                 enc_names: pd.Index) -> np.ndarray:
    """Row of ``admins`` (position) of each block: the administration with
    blocks of the same encounter and ``service_key``; -1 when none.

    Invariant of the timeline: (encounter, service key) is unique among
    administrations with blocks. ``enc`` are the admins' encounter codes
    into ``enc_names``; keys are matched as ints, not texts.
    """
    block_enc = enc_names.get_indexer(blocks["encounter_id"])
    # The timeline builds each distinct key once: shared objects, hashed by pointer.
    svc, _ = factorize_shared(np.concatenate([admins["service_key"].to_numpy(dtype=object),
                                              blocks["service_key"].to_numpy(dtype=object)]))
    width = np.int64(svc.max() + 1) if len(svc) else np.int64(1)
    admin_key = enc.astype(np.int64) * width + svc[: len(admins)]
    block_key = block_enc.astype(np.int64) * width + svc[len(admins):]
    with_blocks = np.flatnonzero(admins["has_blocks"].to_numpy(dtype=bool))
    index = pd.Index(admin_key[with_blocks])
    if not index.is_unique:
        raise ValueError("administrations with blocks repeat an (encounter, service_key)")
    rows = index.get_indexer(block_key)
    return np.where((rows >= 0) & (block_enc >= 0), with_blocks[np.maximum(rows, 0)], -1)


def encounter_codes(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(ids, sort=True)``: int64 code of each encounter id,
    ascending with the id text, and the ids in code order.

    The timeline's administrations come sorted by encounter: then the codes
    are the runs of equal ids, found by comparing neighbours (no hashing,
    no sort); other input is factorised.
    """
    values = ids.to_numpy(dtype=object)
    if (len(values) and pd.api.types.infer_dtype(values, skipna=False) == "string"
            and pd.Index(values).is_monotonic_increasing):
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        code = np.zeros(len(values), dtype=np.int64)
        code[starts[1:]] = 1
        return np.cumsum(code), values[starts]
    code, names = pd.factorize(ids, sort=True)
    return code.astype(np.int64), np.asarray(names, dtype=object)


def shallow_reset(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame.reset_index(drop=True)`` sharing the column arrays: columns
    set on it later (always whole columns) leave ``frame`` as it was, and
    no copy of every column is made."""
    out = frame.copy(deep=False)
    out.index = pd.RangeIndex(len(out))
    return out


def site_groups(timeline: Timeline) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`assign_site_groups` plus what the coding reuses: the admins
    carry ``_enc``, their encounter code (int64, ascending with the
    encounter id text), and the second value is :func:`block_admins` of
    ``timeline.blocks``."""
    admins = shallow_reset(timeline.administrations)
    enc, enc_names = encounter_codes(admins["encounter_id"])
    block_admin = block_admins(timeline.blocks, admins, enc, pd.Index(enc_names))
    visit_group = _visit_groups(admins, enc)
    # The grouping key is encounter + visit.
    key = group_codes(enc, visit_group)
    local = _site_groups_within(admins, key, timeline.blocks, block_admin)
    # Groups of later visits follow those of earlier visits in one encounter:
    # keys ascend by (encounter, visit), so an encounter's visits are one run.
    n_keys = int(key.max()) + 1 if len(key) else 0
    per_visit = np.zeros(n_keys, dtype=np.int64)
    np.maximum.at(per_visit, key, local + 1)
    key_enc = np.zeros(n_keys, dtype=np.int64)
    key_enc[key] = enc
    before = np.cumsum(per_visit) - per_visit
    first = run_starts(key_enc)
    offset = before - np.repeat(before[first], np.diff(np.r_[first, n_keys]))
    admins["site_group"] = (local + offset[key]).astype("int64")
    admins["visit_group"] = visit_group
    admins["separate_site"] = local > 0
    admins["_enc"] = enc
    return admins, block_admin


def _site_groups_within(admins: pd.DataFrame, key: np.ndarray, blocks: pd.DataFrame,
                        block_admin: np.ndarray) -> np.ndarray:
    """Site group (0 = main access) of each row of ``admins`` within its
    ``key`` (encounter + visit code), as int64 in row order (R-B3, R-B4).

    ``block_admin`` is the admins row of each block (:func:`block_admins`);
    sites are compared as codes of one factorisation of both frames.
    """
    # Only reportable services open or use an access: a KVO line or a flush
    # on another site is not a second site in use (R-G3).
    reportable = admins["has_blocks"].to_numpy(dtype=bool) & ~admins["drug_class"].isin(
        [DILUENT, NOT_REPORTABLE]).to_numpy()
    b = np.flatnonzero(block_admin >= 0)
    b = b[reportable[block_admin[b]]]
    site, site_names = pd.factorize(np.concatenate([admins["site"].to_numpy(dtype=object),
                                                    blocks["site"].to_numpy(dtype=object)]))
    admin_site, block_site = site[: len(admins)], site[len(admins):][b]
    no_site = pd.Index(site_names).get_indexer([""])[0]  # -1 when no block lacks a site
    bkey = key[block_admin[b]]
    start, end = (blocks[c].dt.as_unit("ns").array.asi8[b] for c in ("start", "end"))
    # The main site is that of the key's first block (ties: block order).
    order = lexsort_ints((start, bkey))
    first = order[run_starts(bkey[order])]
    main_site = np.full(int(key.max()) + 1 if len(key) else 0, -2, dtype=np.int64)
    main_site[bkey[first]] = block_site[first]
    is_main = block_site == main_site[bkey]
    other = np.flatnonzero(~is_main & (block_site != no_site))
    main = np.flatnonzero(is_main)
    # Blocks of other sites that overlap a main-site block, by sorted search.
    hits, _ = overlapping_pairs_int((bkey[other], start[other], end[other]), (bkey[main], start[main], end[main]))
    hit = other[np.unique(hits)]
    return _separate_site_numbers(bkey[hit], block_site[hit], start[hit], key, admin_site)


def _separate_site_numbers(hit_key: np.ndarray, hit_site: np.ndarray, hit_start: np.ndarray,
                           key: np.ndarray, admin_site: np.ndarray) -> np.ndarray:
    """Number (1..) of each separate site within its key, in the order of
    its first overlapping block (ties: order of appearance), looked up for
    every administration by (key, site); 0 for the main access."""
    if len(hit_key) == 0:
        return np.zeros(len(key), dtype=np.int64)
    pair = group_codes(hit_key, hit_site)
    n_pairs = int(pair.max()) + 1
    pair_start = np.full(n_pairs, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(pair_start, pair, hit_start)
    first_seen = np.full(n_pairs, len(pair), dtype=np.int64)
    np.minimum.at(first_seen, pair, np.arange(len(pair)))
    pair_key, pair_site = hit_key[first_seen], hit_site[first_seen]
    order = lexsort_ints((first_seen, pair_start, pair_key))
    starts = run_starts(pair_key[order])
    number = np.empty(n_pairs, dtype=np.int64)
    number[order] = np.arange(n_pairs) - np.repeat(starts, np.diff(np.r_[starts, n_pairs])) + 1
    width = np.int64(max(int(admin_site.max(initial=0)), int(pair_site.max())) + 2)
    rows = pd.Index(pair_key * width + pair_site + 1).get_indexer(key * width + admin_site + 1)
    return take_or(number, rows, 0).astype(np.int64)


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
    return site_groups(timeline)[0].drop(columns="_enc")


def initial_modifiers(frame: pd.DataFrame, admins: pd.DataFrame, policy: Policy) -> np.ndarray:
    """Modifier of each initial line of ``frame`` (object array).

    ``frame`` has ``_enc`` (encounter code) and ``site_group``; ``admins``
    are those of :func:`site_groups`. A second access within a visit
    carries XU (R-B3); the main access of a later, separate visit carries
    policy ``separate_visit_modifier`` (59 or XE, R-B5, D10); the first
    visit's main access none.
    """
    rows = group_rows(admins["_enc"].to_numpy(dtype=np.int64), admins["site_group"].to_numpy(dtype=np.int64),
                      frame["_enc"].to_numpy(dtype=np.int64), frame["site_group"].to_numpy(dtype=np.int64))
    frame_group = frame["site_group"].to_numpy(dtype=np.int64)
    separate_site = np.where(rows >= 0, take_or(admins["separate_site"].to_numpy(dtype=bool), rows, False),
                             frame_group > 0)
    later_visit = take_or(admins["visit_group"].to_numpy(dtype="int64"), rows, 0) > 0
    return np.select([separate_site, later_visit], [SEPARATE_SITE_MODIFIER, policy.separate_visit_modifier],
                     default="").astype(object)


def group_rows(enc: np.ndarray, group: np.ndarray, find_enc: np.ndarray, find_group: np.ndarray) -> np.ndarray:
    """First row of each (``find_enc``, ``find_group``) pair among the rows'
    (``enc``, ``group``) pairs; -1 when absent.

    Encounter codes and site groups are small non-negative ints (codes of
    :func:`encounter_codes`, groups numbered from 0 per encounter): each
    encounter gets a slot per group up to its highest, so a pair is looked
    up by position in one table (no hashing). Other values are not found.
    """
    rows = np.full(len(find_enc), -1, dtype=np.int64)
    if len(enc) == 0:
        return rows
    if enc.min() < 0 or group.min() < 0:
        return _group_rows_hashed(enc, group, find_enc, find_group)
    n_enc = int(enc.max()) + 1
    size = np.zeros(n_enc, dtype=np.int64)  # slots of each encounter: its highest group + 1
    np.maximum.at(size, enc, group + 1)
    base = np.cumsum(size) - size
    first = np.full(int(size.sum()), len(enc), dtype=np.int64)
    np.minimum.at(first, base[enc] + group, np.arange(len(enc), dtype=np.int64))
    ok = (find_enc >= 0) & (find_enc < n_enc) & (find_group >= 0)
    ok[ok] = find_group[ok] < size[find_enc[ok]]
    rows[ok] = first[base[find_enc[ok]] + find_group[ok]]
    rows[rows == len(enc)] = -1  # a slot no row fills: a group the encounter skips
    return rows


def _group_rows_hashed(enc: np.ndarray, group: np.ndarray, find_enc: np.ndarray,
                       find_group: np.ndarray) -> np.ndarray:
    """:func:`group_rows` by hashing the pairs (for negative values)."""
    width = np.int64(1 << 20)  # site groups of one encounter are far fewer
    key = enc * width + group
    first = np.flatnonzero(~pd.Series(key).duplicated().to_numpy())
    at = pd.Index(key[first]).get_indexer(find_enc * width + find_group)
    return np.where(at >= 0, first[np.maximum(at, 0)], -1).astype(np.int64)
