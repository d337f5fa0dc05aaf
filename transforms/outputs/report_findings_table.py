"""The all-findings table of the HTML report.

Every finding in one table, in encounter-ranking order, with inline filter
and sort script (no network). The rows, most of the page, are built in bulk
per column and yielded as UTF-8 bytes, :data:`_TABLE_ROWS_PER_BLOCK` rows at
a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.outputs.report_charts import DIRECTION_ORDER
from transforms.outputs.report_markup import (
    concat_utf8,
    esc,
    esc_series,
    esc_text,
    format_numbers,
    int_text,
    money_series,
    num,
)
from transforms.outputs.report_ranking import _has_dollars, _has_severity, severity_rank
from transforms.outputs.report_sections import _direction_word_spans, _direction_words, _titled
from transforms.vocab.findings import SEVERITIES, TITLE


#: The filter and sort of the all-findings table: inline, no network, nothing loaded. Without
#: script the filters stay hidden and the table is a plain, complete table. A fragment such as
#: ``#key=push_missed&dir=under_billed&q=E26&sort=-dollars`` pre-sets the filters and the sort.
_FINDINGS_SCRIPT = """
(function () {
  var table = document.getElementById("all-findings-table");
  var form = document.getElementById("all-findings-filters");
  if (!table || !form) { return; }
  form.hidden = false;
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  var shown = document.getElementById("all-findings-shown");
  var field = function (name) { return form.querySelector("[name=" + name + "]"); };
  var q = field("q"), dir = field("dir"), sev = field("sev"), key = field("key");
  function apply() {
    var text = q.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = (!dir.value || r.getAttribute("data-dir") === dir.value)
        && (!sev || !sev.value || r.getAttribute("data-sev") === sev.value)
        && (!key.value || r.getAttribute("data-key") === key.value)
        && (!text || r.textContent.toLowerCase().indexOf(text) >= 0);
      r.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = String(n);
  }
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function sortBy(th, descending) {
    var i = heads.indexOf(th), numeric = th.getAttribute("data-type") === "num";
    var value = function (r) {
      var c = r.cells[i];
      if (numeric) { var v = parseFloat(c.getAttribute("data-v")); return isNaN(v) ? -Infinity : v; }
      return c.textContent.trim().toLowerCase();
    };
    var keyed = rows.map(function (r, pos) { return [value(r), pos, r]; });
    keyed.sort(function (a, b) {
      var d = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
      return (descending ? -d : d) || a[1] - b[1];
    });
    keyed.forEach(function (k) { body.appendChild(k[2]); });
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  heads.forEach(function (th) {
    th.classList.add("sortable");
    th.tabIndex = 0;
    var toggle = function () { sortBy(th, th.getAttribute("aria-sort") === "ascending"); };
    th.addEventListener("click", toggle);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { toggle(); } });
  });
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("="), name = kv[0], v = decodeURIComponent((kv[1] || "").replace(/\\+/g, " "));
    if (name === "sort") {
      var th = table.tHead.querySelector("[data-col='" + v.replace(/^-/, "") + "']");
      if (th) { sortBy(th, v.charAt(0) === "-"); }
    } else if (kv.length === 2 && field(name)) { field(name).value = v; }
  });
  apply();
})();
"""


def _options(values: pd.Series, labels: pd.Series | None = None, order: Sequence[str] = ()) -> str:
    """``<option>`` elements of the distinct values, after an "all" option; labels default to values.

    Values in ``order`` come first in that order, the others sorted.
    """
    text = values.astype(str)
    distinct = set(pd.unique(text))
    v = pd.Series([o for o in order if o in distinct] + sorted(distinct - set(order)), dtype=object)
    if labels is not None:  # the label of a value's last row, as a dict built from the rows keeps it
        label = pd.Series(labels.astype(str).to_numpy(), index=text.to_numpy())
        shown = v.map(label[~label.index.duplicated(keep="last")])
    else:
        shown = v
    return '<option value="">all</option>' + "".join(
        '<option value="' + esc_series(v) + '">' + esc_series(shown) + "</option>")


def _filters(f: pd.DataFrame, total: int) -> str:
    """The filter controls of the all-findings table, hidden until its script shows them."""
    sev = (f'<label>Severity <select name="sev">{_options(f["severity"].astype(str), order=SEVERITIES)}'
           "</select></label>" if _has_severity(f) else "")
    key = f["finding"].astype(str)
    return ('<div class="filters" id="all-findings-filters" hidden>'
            '<label>Search <input type="search" name="q" placeholder="encounter, claim, code or text"></label>'
            '<label>Direction <select name="dir">'
            f'{_options(f["direction"], _direction_words(f["direction"]), DIRECTION_ORDER)}</select></label>{sev}'
            f'<label>Finding <select name="key">{_options(key, key.map(TITLE).fillna(key))}</select></label>'
            f'<span><b id="all-findings-shown">{total}</b> of {total} shown</span></div>')


#: Columns of the all-findings table drawn right-aligned (amounts).
_RIGHT_ALIGNED = frozenset({"billed", "expected", "difference", "dollars"})


def _finding_cells(f: pd.DataFrame, anchors: pd.Series
                   ) -> list[tuple[str, str, pd.Series | pa.Array, pd.Series | None]]:
    """The columns of the all-findings table: (column id, header, cell HTML, sort value or ``None``).

    A cell column that is escaped text alone is an Arrow array (:func:`esc_text`): it is only
    concatenated into the rows (:func:`concat_text`), never read cell by cell.

    ``f`` carries ``_note``, each finding's :func:`price_notes` text.
    ``anchors``: encounter id -> anchor of its timeline (the top encounters only).
    """
    eid = f["encounter_id"].astype(str)
    anchor = eid.map(anchors)
    encounter = esc_series(eid)
    linked = anchor.notna().to_numpy()  # the top encounters' rows only: a few
    encounter[linked] = '<a href="#' + esc_series(anchor[linked]) + '">' + encounter[linked] + "</a>"
    billed, expected = num(f["billed_units"]), num(f["expected_units"])
    diff = billed - expected
    def units(v: pd.Series, spec: str = "g") -> pd.Series:
        """Units as written (whole numbers: ``{:g}``), formatted once per distinct value."""
        return pd.Series(format_numbers(v, spec), index=v.index, dtype=object)

    cols = [
        ("encounter", "encounter", encounter, None),
        ("claim", "claim", esc_text(f["claim_id"]) if "claim_id" in f else pd.Series("", index=f.index), None),
        ("code", "code", esc_text(f["hcpcs"]), None),
        ("finding", "finding", _titled(f["finding"]), None),
        ("direction", "direction", _direction_word_spans(f["direction"]), None),
    ]
    if _has_severity(f):
        cols.append(("severity", "severity", esc_text(f["severity"]), severity_rank(f["severity"])))
    cols += [
        ("billed", "billed units", units(billed), billed),
        ("expected", "expected units", units(expected), expected),
        ("difference", "difference", units(diff, "+g").where(diff != 0, "0"), diff),
    ]
    if _has_dollars(f):
        usd = pd.to_numeric(f["dollar_impact"], errors="coerce")
        note = f["_note"]
        text = money_series(usd.fillna(0.0)).where(usd.notna(), "\u2014")
        cell = esc_series(text) + ('<div class="price">' + esc_series(note) + "</div>").where(note != "", "")
        cols.append(("dollars", "dollar impact", cell, usd))
    explanation = f["explanation"] if "explanation" in f else pd.Series("", index=f.index)
    cols.append(("explanation", "explanation", esc_text(explanation), None))
    return cols


def _ranked_order(position: np.ndarray, code: pd.Series) -> np.ndarray:
    """Row positions sorted by encounter ``position`` (NaN last), then ``code`` text; stable (a
    mergesort by the two, as ``sort_values``), from integer keys instead of comparing text."""
    code_rank = pd.factorize(code.to_numpy(dtype=object), sort=True)[0]
    return np.lexsort((code_rank, np.where(np.isnan(position), np.inf, position)))


#: Rows of the all-findings table made at a time (their cells, then their UTF-8 bytes): ~1 KB of
#: HTML a row, so a block's Python cells and bytes are ~10-30 MB (32,768 rows held ~0.1 GB more at
#: 1M encounters, for no gain in speed).
_TABLE_ROWS_PER_BLOCK = 8_192


def _all_findings(findings: pd.DataFrame, ranked: pd.DataFrame, top_n: int, notes: pd.Series
                  ) -> Iterator[str | memoryview]:
    """Every finding in one table, in the order of the encounter ranking; filterable and sortable by script.

    Yielded as consecutive pieces of the page: text, and the table rows (most
    of the page) as their UTF-8 bytes (:func:`concat_utf8`), never a Python
    string, :data:`_TABLE_ROWS_PER_BLOCK` rows at a time (a row's HTML is
    made from its own finding only), so only one block's cells are alive.

    ``notes``: :func:`price_notes` of ``findings``, shown under their dollars.

    Each finding of every encounter is here (the timelines above are the top
    ``top_n`` only); an encounter with a timeline links to it.
    """
    order = pd.Series(np.arange(len(ranked)), index=ranked["encounter_id"].astype(str))
    rows = _ranked_order(findings["encounter_id"].astype(str).map(order).to_numpy(dtype=float),
                         findings["hcpcs"].astype(str))
    f = findings.take(rows).assign(_note=notes.to_numpy()[rows]).reset_index(drop=True)
    top = ranked["encounter_id"].astype(str).head(max(0, top_n))
    anchors = pd.Series("enc-" + pd.Series(np.arange(len(top))).astype(str).to_numpy(), index=top.to_numpy())
    cols = _finding_cells(f.head(1), anchors)  # the columns depend on the frame's columns only
    sortable_numbers = {c for c, _, _, v in cols if v is not None}
    head = "".join(
        f'<th data-col="{c}"' + (' data-type="num"' if c in sortable_numbers else "")
        + (' class="num"' if c in _RIGHT_ALIGNED else "") + f">{esc(h)}</th>" for c, h, _, _ in cols)
    n = len(f)
    note = (f"All {int_text(n)} findings of {int_text(len(ranked))} encounters, the encounters in the order above. "
            "Encounters with a timeline above link to it; for any other, <code>infusion-audit explain "
            "&lt;encounter&gt; --run &lt;this folder&gt;</code> prints its timeline and lines.")
    yield f'<section id="all-findings"><h2>Every finding ({int_text(n)})</h2><p class="note">{note}</p>'
    yield _filters(f, n)
    yield f'<table id="all-findings-table"><thead><tr>{head}</tr></thead><tbody>'
    for start in range(0, n, _TABLE_ROWS_PER_BLOCK):  # a handful of blocks
        # The rows are most of the page: they stay Arrow's UTF-8 bytes, copied into no Python string.
        yield concat_utf8(_finding_row_pieces(f.iloc[start:start + _TABLE_ROWS_PER_BLOCK], anchors))
    yield "</tbody></table>"
    yield f"<script>{_FINDINGS_SCRIPT}</script></section>"


def _finding_row_pieces(f: pd.DataFrame, anchors: pd.Series) -> list[str | pd.Series | pa.Array]:
    """The pieces of the all-findings rows of ``f`` (:func:`_finding_cells`), for :func:`concat_utf8`."""
    sev = esc_text(f["severity"]) if _has_severity(f) else ""
    pieces = ['<tr data-dir="', esc_text(f["direction"]), '" data-sev="', sev, '" data-key="',
              esc_text(f["finding"]), '">']
    for c, _, cell, value in _finding_cells(f, anchors):  # one pass per column; the rows are built in bulk
        if value is None:
            pieces += [f'<td class="col-{c}">', cell, "</td>"]
        else:
            v = pd.Series(format_numbers(value, "g"), index=value.index).where(value.notna(), "")
            css = "num" if c in _RIGHT_ALIGNED else f"col-{c}"
            pieces += [f'<td class="{css}" data-v="', v, '">', cell, "</td>"]
    return [*pieces, "</tr>"]
