"""HTML building blocks of the report: escaping, number texts, tables.

Every text taken from the data goes through :func:`esc` or
:func:`esc_series` (``& < > " '`` escaped, missing values as ``""``), so a
drug name or explanation can never open a tag. Helpers work on whole
columns where the report has columns.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


def esc(value: object) -> str:
    """HTML-escape one value; missing values become an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    return html.escape(str(value), quote=True)


def esc_series(s: pd.Series) -> pd.Series:
    """HTML-escape a column, as :func:`esc` does each value; missing values become ``""``."""
    t = s.astype(object).where(s.notna(), "").astype(str)
    return (
        t.str.replace("&", "&amp;", regex=False)
        .str.replace("<", "&lt;", regex=False)
        .str.replace(">", "&gt;", regex=False)
        .str.replace('"', "&quot;", regex=False)
        .str.replace("'", "&#x27;", regex=False)
    )


def num(s: pd.Series) -> pd.Series:
    """A column as floats; text, blanks and missing values become 0.

    The report reads run folders with every column as text, so numbers are
    parsed where they are drawn.
    """
    return pd.to_numeric(s, errors="coerce").fillna(0.0).astype(float)


def int_text(value: object) -> str:
    """``1234`` -> ``1,234``."""
    return f"{int(round(float(value))):,}"


def money(value: float) -> str:
    """``-1234.5`` -> ``-$1,234.50``."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def money_series(s: pd.Series) -> pd.Series:
    """:func:`money` of a whole column."""
    v = s.astype(float)
    sign = pd.Series(np.where(v < 0, "-$", "$"), index=v.index, dtype=object)
    return sign + v.abs().map("{:,.2f}".format)


def one_decimal(values: np.ndarray | pd.Series) -> pd.Series:
    """Numbers as ``{:.1f}`` text (SVG coordinates), index ``0..n-1``."""
    return pd.Series(np.asarray(values, dtype=float)).map("{:.1f}".format)


def day_labels(s: pd.Series) -> list[str]:
    """``audit_date`` values (dates, timestamps or text) as ``YYYY-MM-DD`` (unreadable ones as given)."""
    d = pd.to_datetime(s.astype(str), errors="coerce")
    return list(np.where(d.notna(), d.dt.strftime("%Y-%m-%d"), s.astype(str)))


def html_table(frame: pd.DataFrame, headers: Sequence[str], numeric: Iterable[str] = (),
               raw: Iterable[str] = (), css_class: str = "") -> str:
    """An HTML table of ``frame`` (cells escaped unless the column is in ``raw``).

    Args:
        frame: rows to show, in order; one column per header.
        headers: header texts, one per column of ``frame``.
        numeric: columns right-aligned.
        raw: columns already holding safe HTML.
        css_class: class of the ``<table>``.

    Returns:
        The ``<table>`` markup.
    """
    numeric, raw = set(numeric), set(raw)
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if c in numeric else f"<th>{esc(h)}</th>"
        for c, h in zip(frame.columns, headers)
    )
    rows = pd.Series("<tr>", index=frame.index, dtype=object)
    for c in frame.columns:  # one pass per column; the rows are built in bulk
        cell = frame[c].astype(str) if c in raw else esc_series(frame[c])
        open_td = '<td class="num">' if c in numeric else f'<td class="col-{esc(c)}">'
        rows = rows + open_td + cell + "</td>"
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows + '</tr>')}</tbody></table>"


def card(value: str, key: str, extra: str = "") -> str:
    """One headline number (``value`` is already safe HTML; ``key`` is escaped)."""
    return f'<div class="card {extra}"><div class="v">{value}</div><div class="k">{esc(key)}</div></div>'
