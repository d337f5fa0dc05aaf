"""HTML building blocks of the report: escaping, number texts, tables.

Every text taken from the data goes through :func:`esc` or
:func:`esc_series` (``& < > " '`` escaped, missing values as ``""``), so a
drug name or explanation can never open a tag. Helpers work on whole
columns where the report has columns.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def esc(value: object) -> str:
    """HTML-escape one value; missing values become an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    return html.escape(str(value), quote=True)


#: Arrow type of the text built here: 64-bit offsets, so a page of any size is one array.
_TEXT = pa.large_string()
#: What ``html.escape(text, quote=True)`` replaces, in its order (``&`` first).
_HTML_ESCAPES: tuple[tuple[str, str], ...] = (
    ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"),
)


def esc_series(s: pd.Series) -> pd.Series:
    """HTML-escape a column, as :func:`esc` does each value; missing values become ``""``.

    Text is escaped by Arrow (:func:`esc_text`); any other value is ``str()``
    of it first, as :func:`esc` does.
    """
    return pd.Series(esc_text(s).to_numpy(zero_copy_only=False), index=s.index, dtype=object)


def esc_text(s: pd.Series) -> pa.Array:
    """:func:`esc_series` as a null-free Arrow ``large_string`` array, in row order: for text that is
    only concatenated further (:func:`concat_text`), so no Python string is made per cell."""
    values = s.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        text = pa.array(values, type=_TEXT, from_pandas=True)  # None, NaN and pd.NA become null
        text = text.fill_null("") if text.null_count else text
    else:
        text = pa.array(s.astype(object).where(s.notna(), "").astype(str).to_numpy(dtype=object), type=_TEXT)
    # Entities bring no character escaped after "&", so the original bytes tell which passes are needed.
    data = text.buffers()[2]
    held = data.to_pybytes() if data is not None else b""
    for char, entity in _HTML_ESCAPES:
        if char.encode("ascii") in held:
            text = pc.replace_substring(text, char, entity)
    return text


def by_distinct(values: pd.Series, build: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``build(values)`` for a ``build`` whose every output cell depends on its own input cell only,
    built once per distinct value and taken for each row (a column of finding keys or directions
    has a handful of values among many rows).

    Only a column of text without missing values is shortened this way (hash-equal values such
    as ``1`` and ``True``, or ``None`` and NaN, could print differently); any other is built whole.
    Returns object text aligned with ``values``.
    """
    array = values.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(array, skipna=False) != "string":
        return build(values)
    codes, distinct = pd.factorize(array)
    built = build(pd.Series(distinct, dtype=object)).to_numpy(dtype=object)
    return pd.Series(built[codes], index=values.index, dtype=object)


def as_text(s: pd.Series) -> pd.Series:
    """``s.astype(str)``; a column that already holds text only (no missing value) is returned
    as it is, not copied cell by cell (do not mutate the result)."""
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=False) == "string":
        return s
    return s.astype(str)


def num(s: pd.Series) -> pd.Series:
    """A column as floats; text, blanks and missing values become 0.

    The report reads run folders with every column as text, so numbers are
    parsed where they are drawn.
    """
    return to_number(s).fillna(0.0).astype(float)


def to_number(s: pd.Series) -> pd.Series:
    """``pd.to_numeric(s, errors="coerce")``; a column of text is parsed once per distinct value
    (amounts, units and severities repeat), which gives the same numbers."""
    if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) != "string":
        return pd.to_numeric(s, errors="coerce")
    codes, distinct = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=False)
    parsed = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce").to_numpy()
    return pd.Series(parsed[codes], index=s.index)


def format_numbers(values: np.ndarray | pd.Series, spec: str) -> np.ndarray:
    """Each float of ``values`` as ``format(value, spec)`` text, formatted once per distinct value.

    Values are told apart by their bits, so ``-0.0`` keeps its own text.
    """
    floats = np.ascontiguousarray(np.asarray(values, dtype="float64"))
    codes, distinct = pd.factorize(floats.view("int64"))
    texts = np.array([format(x, spec) for x in distinct.view("float64")], dtype=object)
    return texts[codes]


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
    return sign + format_numbers(v.abs().to_numpy(), ",.2f")


def one_decimal(values: np.ndarray | pd.Series) -> pd.Series:
    """Numbers as ``{:.1f}`` text (SVG coordinates), index ``0..n-1``."""
    return pd.Series(format_numbers(values, ".1f"), dtype=object)


def day_labels(s: pd.Series) -> list[str]:
    """``audit_date`` values (dates, timestamps or text) as ``YYYY-MM-DD`` (unreadable ones as given)."""
    # Once per distinct text, in order of first appearance (the format pandas infers from the
    # first value is the same as for the whole column).
    codes, distinct = pd.factorize(s.astype(str).to_numpy(dtype=object), use_na_sentinel=False)
    text = pd.Series(distinct, dtype=object)
    d = pd.to_datetime(text, errors="coerce")
    return list(np.where(d.notna(), d.dt.strftime("%Y-%m-%d"), text)[codes])


def concat_text(pieces: Sequence[str | pd.Series | np.ndarray | pa.Array]) -> str:
    """The rows of several text columns and constants, each row's pieces concatenated, then all rows
    joined: ``"".join(pieces[0] + pieces[1] + ...)`` built in one Arrow pass instead of one
    whole-column copy per piece. The columns are text without missing values, of one length
    (Arrow arrays, e.g. :func:`esc_text`, are taken as they are)."""
    # Decoded straight from Arrow's buffer: no intermediate copy of the (large) text.
    return str(concat_utf8(pieces), "utf-8")


def concat_utf8(pieces: Sequence[str | pd.Series | np.ndarray | pa.Array]) -> memoryview:
    """:func:`concat_text` as its UTF-8 bytes: a view of Arrow's buffer (no copy), for a caller
    that writes the text to a file instead of holding it as a Python string."""
    columns = [pa.scalar(p, _TEXT) if isinstance(p, str)
               else p.cast(_TEXT) if isinstance(p, pa.Array) else pa.array(np.asarray(p, dtype=object), type=_TEXT)
               for p in pieces]
    rows = pc.binary_join_element_wise(*columns, pa.scalar("", _TEXT))
    if not isinstance(rows, pa.Array):  # constants only: one row
        return memoryview(rows.as_py().encode("utf-8"))
    if len(rows) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset:rows.offset + len(rows) + 1]
    return memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]


def join_by_group(texts: np.ndarray | pd.Series, groups: np.ndarray, n_groups: int) -> list[str]:
    """The ``texts`` of each group ``0..n_groups-1`` joined, each group's in their given order.

    One stable sort of the group codes; then one ``"".join`` per group (the
    report draws a handful of groups, e.g. its top encounters).
    """
    texts = np.asarray(texts, dtype=object)
    groups = np.asarray(groups, dtype="int64")
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(n_groups + 1), side="left")
    ordered = texts[order]
    return ["".join(ordered[bounds[i]:bounds[i + 1]]) for i in range(n_groups)]


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
    return html_tables(frame, np.zeros(len(frame), dtype="int64"), 1, headers, numeric, raw, css_class)[0]


def html_tables(frame: pd.DataFrame, groups: np.ndarray, n_tables: int, headers: Sequence[str],
                numeric: Iterable[str] = (), raw: Iterable[str] = (), css_class: str = "") -> list[str]:
    """:func:`html_table` of each group of rows (``groups``: ``0..n_tables-1`` per row), in one pass.

    A table without rows is its header alone.
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
    bodies = join_by_group((rows + "</tr>").to_numpy(), groups, n_tables)
    return [f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" for body in bodies]


def card(value: str, key: str, extra: str = "") -> str:
    """One headline number (``value`` is already safe HTML; ``key`` is escaped)."""
    return f'<div class="card {extra}"><div class="v">{value}</div><div class="k">{esc(key)}</div></div>'
