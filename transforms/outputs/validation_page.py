"""The run's validation page: every rule checked on each extract, one self-contained HTML file.

Great Expectations' own data docs load Bootstrap, jQuery, Font Awesome and
Vega from the internet and copy megabytes of assets into every run; offline
(a hospital's locked-down network) they render as unstyled text. This page is
drawn from the same GX validation results (``validation/<kind>/validation_<kind>.json``)
with inline CSS only: no script, no font, no request. It shows counts and row
numbers, never a value: the results it reads carry none (the runner strips
them).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path

#: The page, relative to the run folder.
PAGE = "validation/index.html"
#: How many example row numbers a failed rule lists.
EXAMPLE_ROWS = 5

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1d2733;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.meta{color:#5b6775;margin:0 0 8px}table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e2e6ea;vertical-align:top}
th{background:#f3f5f7;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1c7c3c;font-weight:700}.fail{color:#b3261e;font-weight:700}code{font-size:12px;color:#5b6775}
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _rows(result: Mapping) -> list[int]:
    """Source row numbers of a failed rule (GX ``unexpected_index_list``), at most :data:`EXAMPLE_ROWS`."""
    rows: list[int] = []
    for item in (result.get("result") or {}).get("unexpected_index_list") or []:
        value = item.get("source_row") if isinstance(item, Mapping) else item
        rows += value if isinstance(value, list) else [value]
    return [int(r) for r in rows[:EXAMPLE_ROWS] if r is not None]


def _rule_row(result: Mapping) -> str:
    config = result.get("expectation_config") or {}
    meta = config.get("meta") or {}
    outcome = result.get("result") or {}
    ok = bool(result.get("success"))
    status = '<span class="ok">passed</span>' if ok else '<span class="fail">failed</span>'
    checked, failed = outcome.get("element_count"), outcome.get("unexpected_count")
    rows = ", ".join(str(r) for r in _rows(result))
    return (f"<tr><td>{status}</td><td>{_esc(meta.get('reason') or config.get('type', ''))}"
            f"<br><code>{_esc(meta.get('rule', ''))} · {_esc(config.get('type', ''))}</code></td>"
            f"<td>{_esc(meta.get('column', '') if '+' not in str(meta.get('column', '')) else 'all')}</td>"
            f'<td class="n">{"" if checked is None else f"{checked:,}"}</td>'
            f'<td class="n">{"" if failed is None else f"{failed:,}"}</td><td>{_esc(rows)}</td></tr>')


def _extract_section(kind: str, results: Mapping) -> str:
    stats = results.get("statistics") or {}
    rules = sorted(results.get("results") or [], key=lambda r: bool(r.get("success")))  # failures first
    verdict = "every rule passed" if results.get("success") else (
        f"{stats.get('unsuccessful_expectations', 0)} of {stats.get('evaluated_expectations', 0)} rules "
        "found rows to set aside (see quarantine.csv)")
    head = "<tr><th>status</th><th>rule</th><th>column</th><th>rows checked</th><th>rows failed</th>" \
           "<th>example rows</th></tr>"
    return (f'<section id="{_esc(kind)}"><h2>{_esc(kind.upper() if kind == "mar" else kind.title())} extract</h2>'
            f'<p class="meta">suite {_esc(results.get("suite_name", ""))}: {_esc(verdict)}</p>'
            f"<table>{head}{''.join(_rule_row(r) for r in rules)}</table></section>")


def render_validation_page(results: Mapping[str, Mapping], title: str = "Validation") -> str:
    """The page for the validation results of each extract (``{"mar": {...}, "claims": {...}}``, GX JSON)."""
    sections = "".join(_extract_section(kind, results[kind]) for kind in results)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>"
            '<p class="meta">Every rule Great Expectations checked on each extract. Row numbers count '
            "the extract's data rows from 1; the rows themselves are in quarantine.csv with their reasons. "
            '<a href="../report.html">Back to the report</a>.</p>'
            f"{sections}</body></html>\n")


def write_validation_page(validation_dir: Path, title: str = "Validation") -> Path | None:
    """Write :data:`PAGE` from the results found under ``validation_dir`` (``<kind>/validation_<kind>.json``).

    Returns the page's path, or ``None`` when there are no results (nothing is written).
    """
    validation_dir = Path(validation_dir)
    results = {}
    for kind in ("mar", "claims"):
        path = validation_dir / kind / f"validation_{kind}.json"
        if path.is_file():
            results[kind] = json.loads(path.read_text(encoding="utf-8"))
    if not results:
        return None
    page = validation_dir / "index.html"
    page.write_text(render_validation_page(results, title), encoding="utf-8")
    return page
