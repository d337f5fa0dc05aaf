"""Is a validated extract usable, or is it broken as a whole?

Pure pandas, no Prefect and no Great Expectations. :func:`assess` reads one
extract's row counts and its quarantine (``source``, ``row``, ``column``,
``reason``, then the raw values, which are never read here) and decides:

* **share**: more than ``max_share`` of the extract's rows were set aside for
  a data problem (strictly more: exactly ``max_share`` is still usable);
* **whole column**: every non-empty value of a vocabulary column (MAR
  ``action``, ``route``, ``drug_class``; claims ``claim_type``,
  ``claim_frequency``, ``hcpcs``) was rejected. Such an extract is spelled
  differently (an EHR's own words, another code set) and auditing it would
  turn every row it lost into a false finding, whatever its share.

Rows an adapter keeps out *by design* (a mapping profile's ``exclude``
words such as Epic's ``Due`` / ``Not Given``, FHIR statuses ``not-done`` /
``entered-in-error`` / ``unknown``, claim lines replaced or voided) are set
aside and reported, but do not count towards the share: they are not data
problems, and a report full of ``Due`` rows is a normal report. The share is
``failed rows / (rows in - rows excluded by design)``.

Reasons are grouped by their text with the charted value removed
(``action '…' is not in [actions] …``) and row numbers folded
(``duplicate of row N``), so no message built here carries a patient value or
identifier: only counts, column names, row numbers and fixed reason texts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from transforms.vocab import schemas

#: Columns whose values come from a closed vocabulary or code set, per extract kind.
VOCABULARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "mar": ("action", "route", "drug_class"),
    "claims": ("claim_type", "claim_frequency", "hcpcs"),
}
#: Default share of an extract's rows that may be set aside for data problems.
DEFAULT_MAX_SHARE = 0.05
#: Reasons of rows kept out by design (charted but not administered, or
#: superseded): they are set aside and reported but never make an extract unusable.
BY_DESIGN_PATTERNS: tuple[str, ...] = (
    r"' excluded: ",                               # mapping profile exclude words (Due, Not Given, Held...)
    r"^status (?:not-done|entered-in-error|unknown):",  # FHIR statuses that mean "not administered"
    re.escape(schemas.SUPERSEDED_BY_REPLACEMENT),
    re.escape(schemas.VOIDED),
)
_BY_DESIGN = re.compile("|".join(f"(?:{p})" for p in BY_DESIGN_PATTERNS))
# "action 'New Bag' is not in ...": the charted value between the column word and the fixed text.
_QUOTED_VALUE = re.compile(r"^(\S+) '.*?'(?= is not | excluded:| has no |$)")
_ROW_NUMBER = re.compile(r"\brow \d+\b")
_SHORT = (
    (re.compile(r"^(\S+) missing$"), r"missing \1"),
    (re.compile(r"^(\S+) not in vocabulary\b.*"), r"unknown \1"),
    (re.compile(r"^(\S+) '…' is not in \[.*"), r"unknown \1 word"),
    (re.compile(r"^(\S+) not parseable\b.*"), r"unparseable \1"),
    (re.compile(r"^(\S+) not an? .*"), r"invalid \1"),
    (re.compile(r"^(\S+) negative$"), r"negative \1"),
    (re.compile(r"^duplicate .*"), r"duplicate"),
    (re.compile(r"^(\S+) '…' excluded: (.*)"), r"\2"),
)


class UnusableExtract(ValueError):
    """An extract too broken to audit: too many rows set aside, or a vocabulary column
    rejected as a whole. The message names counts, reasons, row numbers and columns only."""


@dataclass(frozen=True)
class Reason:
    """One reason rows were set aside: how many rows, and the first of them.

    ``reason`` is the text with any charted value removed; ``label`` its
    short form for one-line summaries (``unparseable event_time``).
    """

    reason: str
    label: str
    column: str
    rows: int
    example_row: int
    by_design: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"reason": self.reason, "label": self.label, "column": self.column, "rows": self.rows,
                "example_row": self.example_row, "by_design": self.by_design}


@dataclass(frozen=True)
class Usability:
    """The verdict on one extract, with its reasons table (commonest first)."""

    kind: str
    rows_in: int
    rows_set_aside: int
    rows_failed: int
    rows_by_design: int
    max_share: float
    failed_columns: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def share(self) -> float:
        """Rows set aside for data problems over the rows that should have been usable."""
        base = self.rows_in - self.rows_by_design
        return self.rows_failed / base if base > 0 else 0.0

    @property
    def over_share(self) -> bool:
        return self.share > self.max_share

    @property
    def usable(self) -> bool:
        return not self.over_share and not self.failed_columns

    @property
    def name(self) -> str:
        return "MAR" if self.kind == "mar" else self.kind

    def problem(self, top: int = 3) -> str:
        """Why the extract is unusable (empty when usable): counts, reasons, a row example each."""
        if self.usable:
            return ""
        why = []
        if self.over_share:
            why.append(f"{self.rows_failed:,} of {self.rows_in - self.rows_by_design:,} rows "
                       f"({_percent(self.share)}) could not be used, more than the "
                       f"{_percent(self.max_share)} allowed")
        if self.failed_columns:
            cols = ", ".join(self.failed_columns)
            why.append(f"every value of {cols} was rejected" if len(self.failed_columns) == 1
                       else f"every value of the columns {cols} was rejected")
        failed = [r for r in self.reasons if not r.by_design][:top]
        examples = "; ".join(f"{r.rows:,} × {r.reason} (e.g. row {r.example_row}, column {r.column})"
                             for r in failed)
        text = f"{self.name} extract: {' and '.join(why)}."
        return text + (f" Commonest reasons: {examples}." if examples else "")

    def set_aside_line(self, top: int = 3) -> str:
        """``12 of 4,310 MAR rows (0.3 %) set aside: 9 unparseable event_time, 3 unknown route``."""
        if not self.rows_set_aside:
            return ""
        share = self.rows_set_aside / self.rows_in if self.rows_in else 0.0
        labels: dict[str, int] = {}
        for r in self.reasons:
            labels[r.label] = labels.get(r.label, 0) + r.rows
        parts = [f"{n:,} {label}" for label, n in sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))]
        more = f", {len(parts) - top} more" if len(parts) > top else ""
        return (f"{self.rows_set_aside:,} of {self.rows_in:,} {self.name} rows ({_percent(share)}) set aside: "
                f"{', '.join(parts[:top])}{more} — see quarantine.csv")

    def as_dict(self) -> dict[str, object]:
        """JSON-able (for ``summary.json``): counts, share, verdict, line and reasons table."""
        return {
            "rows": self.rows_set_aside, "of": self.rows_in, "failed": self.rows_failed,
            "by_design": self.rows_by_design, "share": round(self.share, 6), "max_share": self.max_share,
            "usable": self.usable, "failed_columns": list(self.failed_columns),
            "line": self.set_aside_line(), "reasons": [r.as_dict() for r in self.reasons],
        }


def _percent(share: float) -> str:
    return f"{share * 100:.1f} %"


def clean_reason(reason: str) -> str:
    """A reason without the charted value it may quote, row numbers folded to ``row N``."""
    return _ROW_NUMBER.sub("row N", _QUOTED_VALUE.sub(r"\1 '…'", reason.strip()))


def short_label(reason: str) -> str:
    """A cleaned reason in a few words: ``unparseable event_time``, ``unknown route``."""
    for pattern, label in _SHORT:
        if pattern.match(reason):
            return pattern.sub(label, reason)
    return re.sub(r"\s*\(.*\)$", "", reason)


def is_by_design(reason: str) -> bool:
    """Whether a (single) reason keeps a row out by design, not for a data problem."""
    return bool(_BY_DESIGN.search(reason))


def _pairs(columns: str, reasons: str) -> list[tuple[str, str]]:
    """(column, reason) pairs of one quarantine row (``a;b`` and ``r1; r2``).

    A reason belongs to the column it starts with; the others take the
    remaining columns in order (or the row's first column).
    """
    cols = [c for c in str(columns).split(";") if c] or [""]
    parts = [r for r in str(reasons).split("; ") if r.strip()] or [""]
    out: list[tuple[str, str] | None] = [None] * len(parts)
    free = list(cols)
    for i, reason in enumerate(parts):
        match = max((c for c in cols if c and reason.startswith(c + " ")), key=len, default=None)
        if match is not None:
            out[i] = (match, reason)
            if match in free:
                free.remove(match)
    for i, reason in enumerate(parts):
        if out[i] is None:
            out[i] = (free.pop(0) if free else cols[0], reason)
    return [p for p in out if p is not None]


def _long(quarantine: pd.DataFrame) -> pd.DataFrame:
    """One row per (quarantined row, column, reason), reasons cleaned."""
    records = []
    q = quarantine.reindex(columns=["row", "column", "reason"])
    for row, columns, reasons in q.itertuples(index=False):
        columns = "" if pd.isna(columns) else columns
        reasons = "" if pd.isna(reasons) else reasons
        for column, reason in _pairs(columns, reasons):
            raw = reason.strip() or "no reason given"
            records.append((int(row), column, clean_reason(raw), is_by_design(raw)))
    return pd.DataFrame(records, columns=["row", "column", "reason", "by_design"]).astype(
        {"row": "int64", "by_design": bool})


def _vocabulary_failures(long: pd.DataFrame, counts: Mapping[str, int], kind: str,
                         kept_values: Mapping[str, int] | None) -> tuple[str, ...]:
    """Vocabulary columns none of whose non-empty values survived.

    A column failed as a whole when some rows were rejected for its value,
    no kept row holds a value in it, and every other quarantined row (not
    kept out by design) is there for a reason on that column too: a row
    quarantined for something else may hold a valid value.
    """
    if long.empty:
        return ()
    data = long[~long["by_design"]]
    data_rows = set(data["row"])
    rows_kept = int(counts.get("rows_kept", 0))
    failed = []
    for column in VOCABULARY_COLUMNS.get(kind, ()):
        on_column = data[data["column"] == column]
        rejected = set(on_column.loc[on_column["reason"] != f"{column} missing", "row"])
        if not rejected:
            continue
        kept = rows_kept if kept_values is None else int(kept_values.get(column, rows_kept))
        if kept > 0 or data_rows - set(on_column["row"]):
            continue
        failed.append(column)
    return tuple(failed)


def assess(
    counts: Mapping[str, int],
    quarantine: pd.DataFrame,
    kind: str,
    max_share: float = DEFAULT_MAX_SHARE,
    kept_values: Mapping[str, int] | None = None,
) -> Usability:
    """The verdict on one validated extract.

    Args:
        counts: ``rows_in``, ``rows_kept``, ``rows_quarantined`` (reconciled).
        quarantine: the extract's quarantine rows (``row``, ``column``,
            ``reason``; other columns are ignored, never read).
        kind: ``"mar"`` or ``"claims"``.
        max_share: the share of rows (0..1) that may be set aside for data
            problems; more than that makes the extract unusable.
        kept_values: non-empty values per vocabulary column among the kept
            rows (``None``: every kept row holds one, true for the required
            columns; pass real counts for optional ones such as ``drug_class``).

    Returns:
        A :class:`Usability`; ``usable`` is False when the share is exceeded
        or a vocabulary column failed as a whole.

    Raises:
        ValueError: ``max_share`` outside 0..1.
    """
    if not 0.0 <= float(max_share) <= 1.0:
        raise ValueError(f"max_share must be between 0 and 1, not {max_share!r}")
    long = _long(quarantine)
    by_design_rows = int(long.groupby("row")["by_design"].all().sum()) if not long.empty else 0
    set_aside = int(counts.get("rows_quarantined", len(quarantine)))
    reasons: list[Reason] = []
    if not long.empty:
        grouped = long.groupby(["reason", "by_design"], sort=False)
        table = grouped.agg(rows=("row", "nunique"), example_row=("row", "min"))
        for (reason, by_design), row in table.iterrows():
            first = long[(long["reason"] == reason) & (long["row"] == row["example_row"])]
            reasons.append(Reason(reason=str(reason), label=short_label(str(reason)),
                                  column=str(first["column"].iloc[0]), rows=int(row["rows"]),
                                  example_row=int(row["example_row"]), by_design=bool(by_design)))
        reasons.sort(key=lambda r: (-r.rows, r.by_design, r.reason))
    failed_columns = _vocabulary_failures(long, counts, kind, kept_values)
    return Usability(
        kind=kind, rows_in=int(counts.get("rows_in", 0)), rows_set_aside=set_aside,
        rows_failed=set_aside - by_design_rows, rows_by_design=by_design_rows, max_share=float(max_share),
        failed_columns=failed_columns, reasons=tuple(reasons),
    )


def refusal_message(verdicts: list[Usability] | tuple[Usability, ...], top: int = 3) -> str:
    """One paragraph for the console and the logs: what was refused and why, no values."""
    problems = " ".join(v.problem(top) for v in verdicts if not v.usable)
    return (f"extract unusable, nothing audited and no findings published. {problems} "
            "Each listed row is in quarantine.csv with its reasons (validation/ has the full report). "
            "Check the extract's spelling of actions, routes and dates (a mapping profile or --mar-format "
            "for an EHR report); to audit anyway, raise --max-quarantine-share.")
