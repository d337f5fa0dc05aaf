"""The top-encounters section of the HTML report.

An overview table of the top encounters (:func:`transforms.outputs.report_ranking.rank_encounters`
order), then per encounter its administration timeline beside its expected
vs billed codes and each finding's explanation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.outputs.report_charts import class_of, legend, timeline_charts
from transforms.outputs.report_markup import (
    as_text,
    esc,
    esc_series,
    html_table,
    html_tables,
    join_by_group,
    money_series,
)
from transforms.outputs.report_ranking import _has_dollars, _has_severity, codes_of, severity_rank
from transforms.outputs.report_sections import _titled, _titled_list


def _order_note(findings: pd.DataFrame) -> str:
    """How the top encounters are ranked, in words (by the columns the findings carry)."""
    has_sev, has_usd = _has_severity(findings), _has_dollars(findings)
    basis = ("severity" if has_sev else "") + (" and " if has_sev and has_usd else "") + (
        "dollar impact" if has_usd else "")
    return (f"ranked by {basis}, then over-billing first, then number of findings" if basis
            else "over-billing first, then by number of findings")


def _overview(ranked: pd.DataFrame, findings: pd.DataFrame, anchors: pd.Series) -> str:
    """Table of the top encounters, each linking to its timeline; worst severity and dollars when present."""
    overview = pd.DataFrame({
        "rank": np.arange(1, len(ranked) + 1).astype(str),
        "encounter": '<a href="#' + anchors + '">' + esc_series(ranked["encounter_id"]) + "</a>",
        "claim": ranked["claim_id"],
        "findings": ranked["findings"].astype(str),
        "over": ranked["over_billed"].astype(str),
        "under": ranked["under_billed"].astype(str),
        "keys": _titled_list(ranked["keys"]),
    })
    headers = ["#", "encounter", "claim", "findings", "over-billed", "under-billed", "findings by title"]
    if _has_severity(findings):
        # The severity word of each encounter's worst finding (first one on ties), among the
        # findings of the encounters shown only.
        shown = findings[findings["encounter_id"].astype(str).isin(set(ranked["encounter_id"].astype(str)))]
        sev = (shown.assign(_r=severity_rank(shown["severity"]), _e=shown["encounter_id"].astype(str))
               .sort_values("_r", ascending=False, kind="mergesort").drop_duplicates("_e")
               .set_index("_e")["severity"])
        overview["severity"] = ranked["encounter_id"].map(sev).to_numpy()
        headers.append("severity")
    if _has_dollars(findings):
        overview["dollars"] = money_series(ranked["dollars"]).to_numpy()
        headers.append("dollar impact")
    return html_table(overview, headers, numeric=["rank", "findings", "over", "under", "dollars"],
                      raw=["encounter", "keys"])


def _codes_tables(encounter_ids: list[str], expected: pd.DataFrame, findings: pd.DataFrame) -> list[str]:
    """Per encounter: expected vs billed units per code, findings coloured by direction."""
    codes = codes_of(encounter_ids, expected, findings)
    codes["finding"] = '<span class="dir-' + esc_series(codes["direction"]) + '">' + _titled_list(codes["finding"]) \
        + "</span>"
    codes["expected_units"] = codes["expected_units"].astype(str)
    codes["billed_units"] = codes["billed_units"].astype(str)
    return html_tables(codes[["hcpcs", "expected_units", "billed_units", "finding"]], codes["_g"].to_numpy(),
                       len(encounter_ids), ["hcpcs", "expected units", "billed units", "finding"],
                       numeric=["expected_units", "billed_units"], raw=["finding"], css_class="codes")


def _encounters(ranked: pd.DataFrame, anchors: pd.Series, admins: pd.DataFrame, expected: pd.DataFrame,
                findings: pd.DataFrame) -> list[str]:
    """One block per top encounter: heading, timeline beside its codes, and each finding's explanation.

    ``admins`` / ``findings`` carry ``_e``, the encounter id as text, and
    hold the rows of the encounters of ``ranked`` only. Every part is built
    for all encounters at once and joined per encounter.
    """
    ids = list(ranked["encounter_id"].astype(str))
    n = len(ids)
    if n == 0:
        return []
    position = pd.Series(np.arange(n), index=pd.Index(ids, dtype=object))
    at = admins["_e"].map(position).to_numpy(dtype="int64")
    charted = np.bincount(at, minlength=n) > 0
    charts = timeline_charts(admins, at, [f"Timeline of encounter {eid}" for eid in ids])
    f_at = findings["_e"].map(position).to_numpy(dtype="int64")
    explanation = findings["explanation"] if "explanation" in findings else pd.Series("", index=findings.index)
    items = join_by_group("<li><b>" + _titled(findings["finding"]) + "</b> (" + esc_series(findings["hcpcs"])
                          + "): " + esc_series(explanation) + "</li>", f_at, n)
    settings = (findings["setting"].astype(str).groupby(f_at).first().reindex(range(n), fill_value="")
                if "setting" in findings else pd.Series("", index=range(n)))
    tables = _codes_tables(ids, expected, findings)
    blocks = []
    for i, (eid, claim_id) in enumerate(zip(ids, ranked["claim_id"])):  # a handful: the top encounters
        chart = charts[i] if charted[i] else '<p class="empty">No administration charted for this encounter.</p>'
        claim = f" \u00b7 claim {esc(claim_id)}" if claim_id else ""
        setting = settings.iloc[i]
        blocks.append(f'<div class="encounter" id="{anchors.iloc[i]}"><h3>{i + 1}. Encounter {esc(eid)}{claim}'
                      f'{" · " + esc(setting) if setting else ""}</h3>'
                      f'<div class="row"><div>{chart}</div><div>{tables[i]}</div></div>'
                      f'<ul>{items[i]}</ul></div>')
    return blocks


def _top(findings: pd.DataFrame, ranked: pd.DataFrame, expected: pd.DataFrame, administrations: pd.DataFrame,
         top_n: int) -> str:
    """The top encounters: overview table, then per encounter its timeline, codes and explanations.

    One block per encounter of the top ``top_n`` of ``ranked``
    (:func:`rank_encounters`; a handful, not the run): each is its own chart
    with its own time axis. Every finding of every encounter is in
    :func:`_all_findings`.
    """
    ranked = ranked.head(max(0, top_n))
    anchors = "enc-" + pd.Series(np.arange(len(ranked)), dtype="int64").astype(str)
    top_set = set(ranked["encounter_id"])
    admins_id = (as_text(administrations["encounter_id"]) if "encounter_id" in administrations
                 else pd.Series(dtype=str))
    in_top = admins_id.isin(top_set)
    top_admins = administrations[in_top].assign(_e=admins_id[in_top])
    find_id = findings["encounter_id"].astype(str)
    in_top_find = find_id.isin(top_set)  # filtered first: the run's findings are not copied whole
    top_find = findings[in_top_find].assign(_e=find_id[in_top_find])
    top_exp = expected[as_text(expected["encounter_id"]).isin(top_set)]
    return "".join([
        f'<section id="top"><h2>Top {len(ranked)} encounters</h2><p class="note">{esc(_order_note(findings))}.</p>',
        _overview(ranked, findings, anchors),
        "<h2>Timelines of the top encounters</h2>",
        '<p class="note">Local clock time. One row per administration; the left column is its coding '
        "role. Beside or under each chart: expected vs billed units per code (codes without a finding were "
        "billed as expected).</p>",
        legend(class_of(top_admins).unique() if not top_admins.empty else []),
        *_encounters(ranked, anchors, top_admins, top_exp, top_find),
        "</section>",
    ])

