"""The summary sections of the HTML report: totals, findings by key and by
direction, dollar impact with its price notes, and the trend across audit dates.

Also the small text helpers the other sections share: directions in words
and coloured spans (:data:`DIRECTION_WORDS`), finding keys as titles.
:func:`price_notes` says why a finding shows no dollars or $0 (the notes
and their texts, :data:`NOT_PRICED` ..., are re-exported by
:mod:`transforms.outputs.report_html`). Every text taken from the data is
HTML-escaped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.findings.remits import REMIT_NOTE
from transforms.outputs.summary import set_aside_lines
from transforms.outputs.report_charts import DIRECTION_ORDER, direction_colours, hbar_chart, trend_chart
from transforms.outputs.report_markup import (
    by_distinct,
    card,
    day_labels,
    esc,
    esc_series,
    html_table,
    int_text,
    money,
    money_series,
    num,
)
from transforms.outputs.report_ranking import _has_dollars
from transforms.vocab.findings import (
    DOCUMENTATION, MEANING, OVER, PRICE_FEE_SCHEDULE, PRICE_NO_SCHEDULE, PRICE_NO_SEPARATE_PAYMENT,
    PRICE_NOT_IN_SCHEDULE, PRICE_NOT_PRICED, PRICE_REMITTANCE, TITLE, UNDER,
)
from transforms.vocab.schemas import PRICE_BASIS

#: Directions in words, for chart labels.
DIRECTION_WORDS: dict[str, str] = {OVER: "over-billed", UNDER: "under-billed", DOCUMENTATION: "documentation"}


def _direction_span(direction: pd.Series, text: pd.Series) -> pd.Series:
    """``text`` in a span coloured by its direction (both escaped)."""
    return '<span class="dir-' + esc_series(direction) + '">' + esc_series(text) + "</span>"


def _direction_word_spans(direction: pd.Series) -> pd.Series:
    """Each direction in words (:func:`_direction_words`) in its coloured span, once per distinct direction."""
    return by_distinct(direction, lambda d: _direction_span(d, _direction_words(d)))


def _direction_words(direction: pd.Series) -> pd.Series:
    """Directions in words (:data:`DIRECTION_WORDS`; an unknown one as it is)."""
    d = direction.astype(str)
    return d.map(DIRECTION_WORDS).fillna(d)


def _titled_list(joined: pd.Series) -> pd.Series:
    """``", "``-joined finding keys as their :func:`_titled` forms, joined the same way (empty stays empty)."""
    parts = joined.astype(str).str.split(", ").explode()
    parts = parts[parts != ""]
    titled = _titled(parts).groupby(level=0).agg(", ".join)
    return titled.reindex(joined.index).fillna("")


def _titled(keys: pd.Series) -> pd.Series:
    """Each finding key as its plain title with the key beside it as a small code (both escaped);
    built once per distinct key."""
    return by_distinct(keys, _titled_rows)


def _titled_rows(keys: pd.Series) -> pd.Series:
    """:func:`_titled`, row by row."""
    k = keys.astype(object).where(keys.notna(), "").astype(str)
    return esc_series(k.map(TITLE).fillna(k)) + ' <code class="key">' + esc_series(k) + "</code>"


def _cards(summary: dict, findings: pd.DataFrame, administrations: pd.DataFrame) -> str:
    """Headline numbers: encounters, lines, findings per direction and, when present, dollars."""
    direction = findings["direction"].astype(str) if not findings.empty else pd.Series(dtype=str)
    if "encounters_audited" in summary:  # counting the administrations' encounters is the fallback only
        encounters = summary["encounters_audited"]
    else:
        encounters = administrations["encounter_id"].nunique() if "encounter_id" in administrations else 0
    flagged = findings["encounter_id"].nunique() if not findings.empty else 0
    cards = [
        card(int_text(encounters), "encounters audited"),
        card(int_text(flagged), "encounters with findings"),
        card(int_text(len(findings)), "findings"),
        card(int_text(direction.eq(OVER).sum()), "over-billed findings", "over"),
        card(int_text(direction.eq(UNDER).sum()), "under-billed findings", "under"),
        card(int_text(direction.eq(DOCUMENTATION).sum()), "documentation findings"),
    ]
    if "expected_lines" in summary:
        cards.insert(1, card(int_text(summary["expected_lines"]), "expected code lines"))
    if _has_dollars(findings):
        usd = num(findings["dollar_impact"])
        cards += [
            card(esc(money(float(usd[direction.eq(OVER)].sum()))), "dollar impact, over-billed", "over"),
            card(esc(money(float(usd[direction.eq(UNDER)].sum()))), "dollar impact, under-billed", "under"),
        ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _score_table(score: dict) -> str:
    """The audit against the synthetic ground truth (recall, precision)."""
    s = pd.DataFrame({
        "measure": ["injected errors found", "recall", "correctly billed encounters with a finding",
                    "encounter precision"],
        "value": [f"{score.get('detected', 0)} of {score.get('injected', 0)}",
                  f"{float(score.get('recall', 0)):.1%}",
                  f"{score.get('clean_encounters_flagged', 0)} of {score.get('clean_encounters', 0)}",
                  f"{float(score.get('encounter_precision', 0)):.1%}"],
    })
    return "<div><h3>Against the ground truth</h3>" + html_table(s, ["measure", "value"], numeric=["value"]) + "</div>"


def _set_aside(summary: dict) -> str:
    """One plain line per extract with rows set aside (how many, the top reasons); empty when none."""
    return "".join(f'<p class="note set-aside">{esc(line)}</p>' for line in set_aside_lines(summary))


def _totals(summary: dict, findings: pd.DataFrame, administrations: pd.DataFrame, night: str) -> str:
    """Headline numbers of the night, rows in/kept/quarantined and, when scored, the ground-truth figures."""
    head = f"Totals of {esc(night)}" if night else "Totals of this run"
    out = [f'<section id="totals"><h2>{head}</h2>', _cards(summary, findings, administrations), _set_aside(summary)]
    rows = summary.get("rows")
    has_rows = isinstance(rows, dict) and bool(rows)
    if has_rows:
        frame = pd.DataFrame.from_dict(rows, orient="index").reindex(
            columns=["rows_in", "rows_kept", "rows_quarantined"]).fillna(0)
        frame = frame.astype("int64").map("{:,}".format).rename_axis("extract").reset_index()
        out.append('<div class="row"><div><h3>Rows</h3>' + html_table(
            frame, ["extract", "rows in", "kept", "quarantined"], numeric=["rows_in", "rows_kept", "rows_quarantined"]) + "</div>")
    score = summary.get("score")
    if isinstance(score, dict) and "injected" in score:
        out.append(_score_table(score))
    if has_rows:  # closes the row of the rows table (and the score beside it)
        out.append("</div>")
    out.append("</section>")
    return "".join(out)


def _by_key(findings: pd.DataFrame) -> str:
    """Findings per key: bar chart coloured by direction, and a table with the key's meaning."""
    f = findings
    work = pd.DataFrame({"finding": f["finding"].astype(str), "direction": f["direction"].astype(str),
                         "encounter_id": f["encounter_id"].astype(str)})
    if _has_dollars(f):
        work["usd"] = num(f["dollar_impact"])
    g = work.groupby("finding").agg(count=("finding", "size"), encounters=("encounter_id", "nunique"),
                                    direction=("direction", "first"),
                                    **({"usd": ("usd", "sum")} if "usd" in work else {}))
    g = g.reset_index().sort_values(["count", "finding"], ascending=[False, True], kind="mergesort")
    g["meaning"] = g["finding"].map(MEANING).fillna("")
    chart = hbar_chart(list(g["finding"].map(TITLE).fillna(g["finding"])), list(g["count"]),
                       direction_colours(g["direction"]), title="Findings by key")
    cols = ["finding", "direction", "count", "encounters"] + (["usd"] if "usd" in g else []) + ["meaning"]
    table = g[cols].copy()
    table["finding"] = _titled(table["finding"])
    table["direction"] = _direction_span(table["direction"], _direction_words(table["direction"]))
    if "usd" in table:
        table["usd"] = money_series(table["usd"])
    headers = ["finding", "direction", "findings", "encounters"] + (["dollar impact"] if "usd" in g else []) + [
        "meaning"]
    return ('<section id="by-key"><h2>Findings by key</h2><div class="row"><div>' + chart + "</div><div>"
            + html_table(table, headers, numeric=["count", "encounters", "usd"], raw=["finding", "direction"])
            + "</div></div></section>")


def _by_direction(findings: pd.DataFrame) -> str:
    """Findings per direction: bar chart and table."""
    f = findings
    work = pd.DataFrame({"direction": f["direction"].astype(str), "encounter_id": f["encounter_id"].astype(str)})
    if _has_dollars(f):
        work["usd"] = num(f["dollar_impact"])
    g = work.groupby("direction").agg(count=("direction", "size"), encounters=("encounter_id", "nunique"),
                                      **({"usd": ("usd", "sum")} if "usd" in work else {}))
    order = [d for d in DIRECTION_ORDER if d in g.index] + sorted(d for d in g.index if d not in DIRECTION_ORDER)
    g = g.reindex(order).reset_index()
    chart = hbar_chart(list(g["direction"].map(DIRECTION_WORDS).fillna(g["direction"])), list(g["count"]),
                       direction_colours(g["direction"]), title="Findings by direction")
    table = g.copy()
    if "usd" in table:
        table["usd"] = money_series(table["usd"])
    headers = ["direction", "findings", "encounters"] + (["dollar impact"] if "usd" in g else [])
    return ('<section id="by-direction"><h2>Findings by direction</h2><div class="row"><div>' + chart
            + "</div><div>" + html_table(table, headers, numeric=["count", "encounters", "usd"])
            + "</div></div></section>")


def _dollars(findings: pd.DataFrame, notes: pd.Series) -> str:
    """Dollar impact by direction and by key, or a note when the findings have none;
    ``notes``: :func:`price_notes` of ``findings`` (computed once per report)."""
    head = '<section id="dollars"><h2>Dollar impact</h2>'
    if not _has_dollars(findings):
        return head + ('<p class="note">Dollar impact is not available for this run (the findings carry no '
                       "<code>dollar_impact</code> column).</p></section>")
    work = pd.DataFrame({"finding": findings["finding"].astype(str), "direction": findings["direction"].astype(str),
                         "usd": num(findings["dollar_impact"])})
    by_dir = work.groupby("direction")["usd"].sum()
    by_key = (work.groupby(["finding", "direction"])["usd"].sum().reset_index()
              .assign(_abs=lambda d: d["usd"].abs())
              .sort_values(["_abs", "finding"], ascending=[False, True], kind="mergesort"))
    by_key = by_key[by_key["_abs"] > 0]
    cards = "".join(card(esc(money(float(by_dir.get(d, 0.0)))), f"{d}", "over" if d == OVER else
                         "under" if d == UNDER else "") for d in (OVER, UNDER))
    chart = hbar_chart(list(by_key["finding"].map(TITLE).fillna(by_key["finding"])), list(by_key["usd"]),
                       direction_colours(by_key["direction"]), value_labels=list(money_series(by_key["usd"])),
                       title="Dollar impact by finding key")
    body = chart if chart else '<p class="note">No finding has a dollar amount.</p>'
    return (head + '<p class="note">Sum of <code>dollar_impact</code> by direction and by finding key.</p>'
            f'<div class="cards">{cards}</div>{body}{_zero_note(notes)}</section>')


#: Why a finding shows no dollars or $0 (see :func:`price_notes`).
NOT_PRICED = "not priced: the code has no amount in the fee schedule"
NO_DOLLARS_DOCUMENTATION = "no dollars: a documentation finding changes no code"
NO_SCHEDULE = "no dollars: the run had no fee schedule"
ZERO_IN_SCHEDULE = "$0 in the fee schedule: no separate payment (e.g. packaged under OPPS status N)"
ZERO_AMOUNT = "$0: the fee schedule's amount for the code is $0"
ZERO_ON_REMIT = "$0 paid on the 835 remittance"
ZERO_NO_UNITS = "$0: billed and expected units are equal"
#: The note of an empty ``dollar_impact`` by ``price_basis``, and of a $0 one.
_EMPTY_BY_BASIS = {PRICE_NOT_PRICED: NO_DOLLARS_DOCUMENTATION, PRICE_NOT_IN_SCHEDULE: NOT_PRICED,
                   PRICE_NO_SCHEDULE: NO_SCHEDULE}
_ZERO_BY_BASIS = {PRICE_NO_SEPARATE_PAYMENT: ZERO_IN_SCHEDULE, PRICE_REMITTANCE: ZERO_ON_REMIT,
                  PRICE_FEE_SCHEDULE: ZERO_AMOUNT}


def price_notes(findings: pd.DataFrame) -> pd.Series:
    """Why each finding's dollar impact is empty or $0 (``""`` for any other amount).

    Read from ``price_basis`` (where the dollars come from,
    :data:`transforms.vocab.findings.PRICE_BASES`); $0 without a unit
    difference is that. Findings written before ``price_basis`` existed (an
    empty value) are told from what they carry: an empty amount is a
    documentation finding or an unpriced code, $0 is the 835's when the
    explanation says so, else the schedule's no-separate-payment status.
    All ``""`` when the findings have no ``dollar_impact`` column.
    """
    if not _has_dollars(findings):
        return pd.Series("", index=findings.index, dtype=object)
    usd = pd.to_numeric(findings["dollar_impact"], errors="coerce")
    diff = num(findings["billed_units"]) - num(findings["expected_units"])
    doc = findings["direction"].astype(str).eq(DOCUMENTATION)
    remit = _says_remittance(findings, usd.eq(0).to_numpy())
    inferred = np.select(
        [usd.isna() & doc, usd.isna(), usd.eq(0) & diff.eq(0), usd.eq(0) & remit, usd.eq(0)],
        [NO_DOLLARS_DOCUMENTATION, NOT_PRICED, ZERO_NO_UNITS, ZERO_ON_REMIT, ZERO_IN_SCHEDULE], default="")
    basis = findings.get(PRICE_BASIS, pd.Series("", index=findings.index)).fillna("").astype(str)
    told = np.select(
        [usd.isna(), usd.eq(0) & diff.eq(0), usd.eq(0)],
        [basis.map(_EMPTY_BY_BASIS), ZERO_NO_UNITS, basis.map(_ZERO_BY_BASIS)], default="")
    told = pd.Series(told, index=findings.index, dtype=object).fillna("")
    return pd.Series(np.where(basis.ne(""), told, inferred), index=findings.index, dtype=object)


def _says_remittance(findings: pd.DataFrame, zero: np.ndarray) -> np.ndarray:
    """Whether each finding's explanation names the 835 remittance (:data:`REMIT_NOTE`), looked
    for in the rows of ``zero`` only (a bool mask; the note matters for a $0 amount alone)."""
    said = np.zeros(len(findings), dtype=bool)
    if "explanation" in findings and zero.any():
        text = findings["explanation"].iloc[np.flatnonzero(zero)].astype(str)
        said[zero] = text.str.contains(REMIT_NOTE.strip(), regex=False).to_numpy(dtype=bool)
    return said


def _zero_note(notes: pd.Series) -> str:
    """How many findings have no dollars or $0, and why, from their :func:`price_notes`
    (empty when every finding has an amount)."""
    counts = notes.value_counts()
    counts = counts[counts.index != ""]
    if counts.empty:
        return ""
    items = "".join(f"<li>{int_text(n)} finding{'s' if n != 1 else ''}: {esc(note)}</li>"
                    for note, n in counts.sort_index().items())
    return f'<p class="note">Findings without a dollar amount, or at $0:</p><ul class="price-notes">{items}</ul>'



def _trend(trend: pd.DataFrame | None) -> str:
    """The trend chart and table under a heading naming its own range, or a note when there is no trend."""
    if trend is None or trend.empty:
        return ('<section id="trend"><h2>Trend across audit dates</h2>'
                '<p class="note">No trend: only this run is available.</p></section>')
    t = trend.copy()
    t["_day"] = day_labels(t["audit_date"])
    t = t.sort_values("_day", kind="mergesort").reset_index(drop=True)
    first, last, n = t["_day"].iloc[0], t["_day"].iloc[-1], len(t)
    span = f"{esc(first)} to {esc(last)}, {n} audit dates" if n > 1 else f"{esc(first)}, one audit date"
    head = (f'<section id="trend"><h2>Trend across audit dates ({span})</h2>'
            '<p class="note">Every audit date in the lake up to this night; the totals above are this '
            "night's only.</p>")
    cols = [c for c in ("findings", "encounters_with_findings", "over_billed", "under_billed", "dollar_impact")
            if c in t]
    table = pd.DataFrame({"audit_date": t["_day"]})
    for c in cols:
        table[c] = money_series(num(t[c])) if c == "dollar_impact" else num(t[c]).map(int_text)
    headers = ["audit date"] + [c.replace("_", " ") for c in cols]
    return (head + '<div class="row"><div>' + trend_chart(t) + "</div><div>"
            + html_table(table, headers, numeric=cols) + "</div></div></section>")

