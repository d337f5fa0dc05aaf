"""X12 adapter: 837I / 837P claims -> canonical claim lines; 835 remittances.

Pure (pyx12, pandas, stdlib). Contract: ../shared/spec/contract.md section 2.

Reading an 837 file
    1. :func:`looks_like_x12`: the content starts with ``ISA`` (after an
       optional UTF-8 BOM and white space).
    2. Structural validation with pyx12's ``x12n_document`` against the
       implementation guide chosen from GS08 (``005010X223A2`` = 837I,
       ``005010X222A1`` = 837P). Its error messages (``pyx12`` logger) are
       collected and sorted into two kinds:

       * FATAL, the file is refused as a whole with :class:`X12Error`:
         envelope errors (``ISA``/``GS``/``ST`` positions: missing trailers,
         i.e. a truncated file, wrong SE/GE/IEA counts, unknown version) and
         every segment-structure error (``SEG`` position: a mandatory segment
         or loop missing, a segment repeated beyond its maximum, a segment
         pyx12 cannot place). After such an error the loops pyx12 builds
         cannot be trusted, so no line of the file is used.
       * LOCATED, the file is read: element errors (``ELE`` position) and
         element relational-condition errors (``SEG ... Syntax Error``). On
         a segment of a service line (loop 2400) the line is unmapped with
         the message as its reason; on a segment of a claim (loop 2300 and
         its 2310 loops) every line of that claim is unmapped; elsewhere
         (submitter, billing provider, subscriber loops) the message is only
         a warning, logged on this module's logger: those values are not
         mapped, or are checked again by validation (``patient_id``).

       Messages are scrubbed of data values before they are kept (pyx12
       quotes values, e.g. ``with a value of (..)``): they name the
       position (``Line:31`` = the 31st segment of the file, ISA = 1),
       segment and element ids and element names only.
    3. Mapping, claim by claim (loop 2300) and line by line (loop 2400).

Mapping (per claim, loop 2300)
    ============== ==========================================================
    claim_id       CLM01 (patient control number)
    encounter_id   the hospital account, chosen by ``account_ref``
                   (:data:`ACCOUNT_REFS`): ``"CLM01"`` (default; the account
                   is the patient control number), ``"REF[D9]"`` (claim
                   identifier for transmission intermediaries: sites whose
                   claim number differs from the account send the account
                   there) or ``"REF[EA]"`` (medical record number used as
                   the account). A claim without the chosen REF is unmapped.
    patient_id     REF*EA (medical record number) of the claim; else NM1*QC
                   NM109 (patient loop 2010CA, when sent); else the
                   subscriber's member id NM1*IL NM109 (loop 2010BA)
    claim_type     ``institutional`` (837I) / ``professional`` (837P)
    bill_type      837I: ``"0"`` + CLM05-1 (facility code, 2 chars) +
                   CLM05-3 (frequency), e.g. ``0131``; 837P: None
    place_of_service
                   837P: SV105 of the line when present, else CLM05-1;
                   837I: None
    claim_frequency
                   CLM05-3 (1 original, 7 replacement, 8 void)
    payer_id       NM1*PR NM109 (loop 2010BB); an extra column until
                   ``schemas.CLAIM_COLUMNS`` lists it
    ============== ==========================================================

Mapping (per service line, loop 2400)
    ============== ==========================================================
    line_number    LX01
    revenue_code   837I SV201; 837P None
    hcpcs          SV202-2 / SV101-2
    modifiers      SV202-3..6 / SV101-3..6 joined by ``,`` (None when none)
    charge         SV203 / SV102, as sent (dollars)
    units          SV205 / SV104, as sent
    service_date   DTP*472 of the line (D8 ``CCYYMMDD`` -> ``YYYY-MM-DD``;
                   RD8 range -> its first date); else, 837I, the claim's
                   statement period DTP*434 (first date); else None
                   (validation quarantines the line)
    ============== ==========================================================

    A line without a procedure code (a revenue-code-only SV2) or whose units
    are missing or not a number is unmapped with its reason, never dropped.
    Units like ``1.5`` are numeric: mapped, and validation quarantines them
    (units must be whole).

Provenance: ``source_file`` (file name only), ``source_record`` (1-based
service-line number in that file, over every line of every claim, mapped or
not). ``source_row`` numbers the mapped lines 1..n over all files; unmapped
``row`` continues after the last ``source_row``.

pyx12 parses segment by segment in Python: reading is inherently per record
(one loop object per claim and line), so nothing here is vectorised; about
the speed of pyx12 itself.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyx12.error_handler
import pyx12.params
import pyx12.x12context
import pyx12.x12n_document

from transforms.ingest.adapters import PROVENANCE, MappedExtract
from transforms.ingest.readers import ExtractError
from transforms.vocab import schemas

log = logging.getLogger(__name__)

#: GS08 / ST03 implementation guide -> claim_type.
VERSIONS: dict[str, str] = {"005010X223A2": "institutional", "005010X222A1": "professional"}
REMIT_VERSION = "005010X221A1"
#: ``account_ref`` value -> pyx12 path of the hospital account in loop 2300.
ACCOUNT_REFS: dict[str, str] = {"CLM01": "CLM01", "REF[D9]": "REF[D9]02", "REF[EA]": "REF[EA]02"}
#: Extra column after the canonical ones (until schemas lists it).
PAYER_COLUMN = "payer_id"
ROW_COLUMNS: tuple[str, ...] = (
    *schemas.CLAIM_COLUMNS,
    *((PAYER_COLUMN,) if PAYER_COLUMN not in schemas.CLAIM_COLUMNS else ()),
)
#: Raw text of the service line's segments, kept with an unmapped line.
SEGMENTS_COLUMN = "x12_segments"
#: Element of a service line -> the canonical column it feeds (for reasons).
_ELEMENT_COLUMNS: dict[str, str] = {
    "SV201": "revenue_code", "SV202": "hcpcs", "SV203": "charge", "SV205": "units",
    "SV101": "hcpcs", "SV102": "charge", "SV104": "units", "SV105": "place_of_service",
    "DTP03": "service_date", "LX01": "line_number",
}
_MESSAGE = re.compile(r"^Line:(\d+) (\w+):(\S+) - (.*)$", re.S)
_ID = r"[A-Z][A-Z0-9]{1,2}(?:\d{2}(?:-\d{1,2})?)?"
_KEEP_PAREN = re.compile(rf"^(?:{_ID}|[A-Z]\d{{4}})$")


class X12Error(ExtractError):
    """An X12 file that cannot be used at all (not X12, rejected by pyx12, wrong transaction).

    ``str(error)`` is one line, ``"<path>: <problem>"``. The problem names
    segment positions (``Line:27`` = 27th segment, ISA = 1), segment and
    element ids and names, never a data value.
    """

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(path, message)


@dataclass(frozen=True)
class Problem:
    """One scrubbed pyx12 error: ``line`` = segment position (None if unknown)."""

    line: int | None
    kind: str
    text: str


@dataclass
class _Line:
    """One service line while it is mapped: canonical values, its segment positions, reasons."""

    values: dict[str, str | None]
    positions: set[int]
    segments: str
    claim_positions: set[int]
    reasons: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------
# Sniffing, reading and validation
# --------------------------------------------------------------------------
def looks_like_x12(path: Path) -> bool:
    """True when the file's content starts with ``ISA`` after an optional BOM / white space."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.lstrip().startswith(b"ISA")


def _read_text(path: Path) -> str:
    """The file as text from its ISA on (BOM and leading white space removed).

    Raises:
        X12Error: unreadable, not text, or not starting with ISA.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise X12Error(path, "file not found") from None
    except UnicodeDecodeError as err:
        raise X12Error(path, f"not valid text (undecodable byte at offset {err.start})") from None
    except OSError as err:
        raise X12Error(path, f"cannot read file ({type(err).__name__})") from None
    text = text.lstrip()
    if not text.startswith("ISA"):
        raise X12Error(path, "not an X12 interchange (does not start with an ISA segment)")
    return text


def _quoted(match: re.Match[str]) -> str:
    """A quoted pyx12 text: kept when it is a name (after "element", or before an id), else ``<value>``."""
    after = match.group(2) or ""
    is_name = bool(re.match(r"\s*\([A-Z][A-Z0-9]{1,2}[0-9=-]", after)) or (
        match.string[: match.start()].rstrip().lower().endswith("element"))
    return (match.group(0)[: len(match.group(1)) + 2] if is_name else '"<value>"') + after


def scrub(message: str) -> str:
    """A pyx12 message without data values (see the module docstring).

    Parenthesised text survives only when it is a segment / element id or a
    syntax-rule id; quoted text only when it is an element or segment name
    (followed by its id in parentheses); ``Segment X*Y not found`` keeps X.
    """
    text = re.sub(r"with a value of \(.*?\)", "with its value", message, flags=re.S)
    text = re.sub(r"(Segment [A-Z][A-Z0-9]{1,2})\*\S*", r"\1", text)
    text = re.sub(r'"([^"]*)"(\s*\([^()]*\))?', _quoted, text)
    text = re.sub(r"\(([^()]*)\)", lambda m: m.group(0) if _KEEP_PAREN.match(m.group(1)) else "", text)
    return " ".join(text.split())


class _Collector(logging.Handler):
    """Collects the ERROR records of the ``pyx12`` logger during one validation."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _pyx12_messages(text: str) -> tuple[bool, list[str]]:
    """Run ``x12n_document`` on ``text``; (valid, raw error messages).

    The ``pyx12`` logger is detached from the root logger while it runs:
    its raw messages can quote data values, and must not reach stderr.
    """
    logger = logging.getLogger("pyx12")
    collector = _Collector()
    saved = (logger.level, logger.propagate)
    logger.addHandler(collector)
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    try:
        ok = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(), src_file=io.StringIO(text), fd_997=None, fd_html=None, fd_xmldoc=None)
    finally:
        logger.removeHandler(collector)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    return bool(ok), collector.messages


def validate_x12(path: Path, text: str) -> list[Problem]:
    """Validate one interchange; return its LOCATED problems (element errors).

    Raises:
        X12Error: pyx12 reports a FATAL error (module docstring); the message
            lists the first three, scrubbed, e.g. ``Line:22 SEG:3 -
            Mandatory segment "Institutional Claim Code" (CL1) missing``.
    """
    ok, messages = _pyx12_messages(text)
    fatal: list[str] = []
    located: list[Problem] = []
    for raw in messages:
        clean = scrub(raw)
        match = _MESSAGE.match(clean)
        kind = match.group(2) if match else ""
        element_level = kind == "ELE" or (kind == "SEG" and match.group(4).startswith("Syntax Error"))
        if match and element_level:
            located.append(Problem(int(match.group(1)), kind, clean))
        else:
            fatal.append(clean)
    if fatal:
        more = f" (and {len(fatal) - 3} more)" if len(fatal) > 3 else ""
        raise X12Error(path, "rejected by X12 validation: " + "; ".join(fatal[:3]) + more
                       + "; correct the segment(s) named (Line:N = Nth segment) and send the file again")
    if not ok and not located:
        raise X12Error(path, "rejected by X12 validation (pyx12 gave no message)")
    return located


# --------------------------------------------------------------------------
# 837 mapping
# --------------------------------------------------------------------------
def _date(qualifier: str | None, value: str | None) -> str | None:
    """DTP/DTM date -> ``YYYY-MM-DD``: D8 ``CCYYMMDD``; RD8 ``CCYYMMDD-CCYYMMDD`` -> first date."""
    if not value:
        return None
    first = value.split("-")[0].strip() if qualifier in (None, "RD8") else value.strip()
    if not re.fullmatch(r"\d{8}", first):
        return None
    return f"{first[:4]}-{first[4:6]}-{first[6:]}"


def _modifiers(node: object, composite: str) -> str | None:
    """Composite parts 3..6 (procedure modifiers) joined by ``,``; None when none."""
    mods = [node.get_value(f"{composite}-{i}") for i in range(3, 7)]  # type: ignore[attr-defined]
    mods = [m.strip() for m in mods if m and m.strip()]
    return ",".join(mods) or None


def _iter_claims(path: Path, text: str) -> Iterator[tuple[dict[str, str | None], object]]:
    """(context, 2300 loop node) for every claim of an interchange, in file order.

    The context carries what precedes the claim in the stream: the
    implementation guide (GS08), the subscriber's member id (2010BA), the
    patient's id (2010CA, rarely sent in 5010) and the payer id (2010BB).
    A new subscriber (HL03 22) resets all three; a new patient (HL03 23)
    resets the patient.

    Raises:
        X12Error: a functional group is not 837I / 837P (GS08).
    """
    ctx: dict[str, str | None] = {"version": None, "member": None, "patient": None, "payer": None}
    errh = pyx12.error_handler.errh_null()
    reader = pyx12.x12context.X12ContextReader(pyx12.params.params(), errh, io.StringIO(text))
    for node in reader.iter_segments("2300"):
        if node.id == "2300":
            yield dict(ctx), node
            continue
        where = node.cur_path
        if node.id == "GS":
            ctx["version"] = node.get_value("GS08")
            if ctx["version"] not in VERSIONS:
                raise X12Error(path, f"not an 837I/837P claim file (GS08 {ctx['version']})")
        elif node.id == "HL":
            level = node.get_value("HL03")
            if level == "22":
                ctx.update(member=None, patient=None, payer=None)
            elif level == "23":
                ctx["patient"] = None
        elif node.id == "NM1" and where.endswith("2010BA/NM1"):
            ctx["member"] = node.get_value("NM109")
        elif node.id == "NM1" and where.endswith("2010BB/NM1"):
            ctx["payer"] = node.get_value("NM109")
        elif node.id == "NM1" and where.endswith("2010CA/NM1"):
            ctx["patient"] = node.get_value("NM109")


def _positions(node: object, inside_lines: bool, line_loop: str = "2400") -> set[int]:
    """Segment positions of a loop: its service lines only, or all but its service lines."""
    out = set()
    for seg in node.iterate_segments():  # type: ignore[attr-defined]
        in_line = f"/{line_loop}/" in str(seg["path"])
        if in_line == inside_lines and seg["cur_line_number"] is not None:
            out.add(int(seg["cur_line_number"]))
    return out


def _claim_values(
    ctx: dict[str, str | None], claim: object, account_ref: str
) -> tuple[dict[str, str | None], list[tuple[str, str]]]:
    """Claim-level canonical values of one 2300 loop, and claim-level reasons not to map it."""
    get = claim.get_value  # type: ignore[attr-defined]
    claim_type = VERSIONS[str(ctx["version"])]
    facility, frequency = get("CLM05-1"), get("CLM05-3")
    institutional = claim_type == "institutional"
    values = {
        "claim_id": get("CLM01"),
        "encounter_id": get(ACCOUNT_REFS[account_ref]),
        "patient_id": get("REF[EA]02") or ctx["patient"] or ctx["member"],
        "claim_type": claim_type,
        "bill_type": f"0{facility}{frequency}" if institutional and facility and frequency else None,
        "place_of_service": None if institutional else facility,
        "claim_frequency": frequency,
        PAYER_COLUMN: ctx["payer"],
    }
    reasons = []
    if not values["encounter_id"]:
        ref = account_ref.replace("[", "*").replace("]", "")
        reasons.append(("encounter_id", f"claim has no {ref} (the hospital account chosen by account_ref)"))
    statement = _date("RD8", get("DTP[434]03")) if institutional else None
    values["_statement_date"] = statement
    return values, reasons


def _line_values(line: object, claim: dict[str, str | None]) -> dict[str, str | None]:
    """Canonical values of one 2400 loop (claim values merged in)."""
    get = line.get_value  # type: ignore[attr-defined]
    institutional = claim["claim_type"] == "institutional"
    proc = "SV202" if institutional else "SV101"
    service = _date(get("DTP[472]02"), get("DTP[472]03")) or claim["_statement_date"]
    values = {k: v for k, v in claim.items() if not k.startswith("_")}
    values.update({
        "line_number": get("LX01"),
        "service_date": service,
        "hcpcs": get(f"{proc}-2"),
        "modifiers": _modifiers(line, proc),
        "units": get("SV205") if institutional else get("SV104"),
        "charge": get("SV203") if institutional else get("SV102"),
        "revenue_code": get("SV201") if institutional else None,
    })
    if not institutional and get("SV105"):
        values["place_of_service"] = get("SV105")
    return values


def _line_reasons(values: dict[str, str | None], claim_type: str) -> list[tuple[str, str]]:
    """(column, reason) for a line with no procedure or non-numeric units."""
    sv = "SV202-2" if claim_type == "institutional" else "SV101-2"
    units = "SV205" if claim_type == "institutional" else "SV104"
    reasons = []
    if not values["hcpcs"]:
        reasons.append(("hcpcs", f"service line has no procedure code ({sv})"))
    if not values["units"]:
        reasons.append(("units", f"service line has no unit count ({units})"))
    elif not re.fullmatch(r"-?\d+(?:\.\d+)?|-?\.\d+", values["units"].strip()):
        reasons.append(("units", f"unit count ({units}) is not a number"))
    return reasons


def _lines_of_file(path: Path, text: str, account_ref: str) -> list[_Line]:
    """Every service line of one validated 837 interchange, in file order."""
    lines: list[_Line] = []
    for ctx, claim in _iter_claims(path, text):
        claim_vals, claim_reasons = _claim_values(ctx, claim, account_ref)
        claim_pos = _positions(claim, inside_lines=False)
        for line in claim.select("2400"):  # type: ignore[attr-defined]
            values = _line_values(line, claim_vals)
            segments = "".join(s["segment"].format() for s in line.iterate_segments())
            reasons = claim_reasons + _line_reasons(values, str(claim_vals["claim_type"]))
            lines.append(_Line(values, _positions(line, inside_lines=True), segments, claim_pos, reasons))
    return lines


def _problem_column(text: str) -> str:
    """The canonical column a pyx12 message is about (its first known element id), else the id."""
    ids = [i for i in re.findall(r"\b([A-Z][A-Z0-9]{1,2}\d{2})\b", text) if not re.fullmatch(r"[A-Z]\d{4}", i)]
    known = [_ELEMENT_COLUMNS[i] for i in ids if i in _ELEMENT_COLUMNS]
    return known[0] if known else (ids[0] if ids else "x12")


def _attach_problems(path: Path, lines: list[_Line], problems: list[Problem]) -> None:
    """Put each LOCATED pyx12 problem on its service line, or on every line of its claim; else warn."""
    for problem in problems:
        own = [ln for ln in lines if problem.line in ln.positions]
        claim = [ln for ln in lines if problem.line in ln.claim_positions]
        targets = own or claim
        if not targets:
            log.warning("%s: X12 warning outside any claim: %s", path.name, problem.text)
            continue
        column = _problem_column(problem.text)
        prefix = "" if own else "claim: "
        for ln in targets:
            ln.reasons.append((column, prefix + problem.text))


def read_837(paths: Sequence[Path], account_ref: str = "CLM01") -> MappedExtract:
    """Map 837I / 837P files onto canonical claim lines (module docstring).

    Args:
        paths: X12 files; each holds one or more interchanges of 837I/837P.
        account_ref: where the hospital account (``encounter_id``) is: a key
            of :data:`ACCOUNT_REFS`.

    Returns:
        ``MappedExtract(kind="claims", format="x12")``: ``rows`` =
        :data:`ROW_COLUMNS` as text, :data:`PROVENANCE`, ``source_row``;
        ``unmapped`` = quarantine columns, provenance, the line's values and
        :data:`SEGMENTS_COLUMN`. Every service line is in exactly one.

    Raises:
        ValueError: unknown ``account_ref``.
        X12Error: a file is not X12, not an 837I/837P, or pyx12 rejects it
            (FATAL errors): nothing of any file is returned.
    """
    if account_ref not in ACCOUNT_REFS:
        raise ValueError(f"account_ref must be one of {sorted(ACCOUNT_REFS)}, not {account_ref!r}")
    mapped: list[dict[str, object]] = []
    unmapped: list[dict[str, object]] = []
    for path in map(Path, paths):
        text = _read_text(path)
        problems = validate_x12(path, text)
        lines = _lines_of_file(path, text, account_ref)
        _attach_problems(path, lines, problems)
        for record, ln in enumerate(lines, start=1):
            prov = {"source_file": path.name, "source_record": record}
            if ln.reasons:
                unmapped.append({"source": "claims", "column": ";".join(dict.fromkeys(c for c, _ in ln.reasons)),
                                 "reason": "; ".join(r for _, r in ln.reasons), **prov, **ln.values,
                                 SEGMENTS_COLUMN: ln.segments})
            else:
                mapped.append({**ln.values, **prov})
    return MappedExtract("claims", "x12", _rows_frame(mapped), _unmapped_frame(unmapped, len(mapped)))


def _rows_frame(mapped: list[dict[str, object]]) -> pd.DataFrame:
    """Mapped lines as the raw claims frame: text columns, provenance, ``source_row`` 1..n."""
    cols = [*ROW_COLUMNS, *PROVENANCE]
    frame = pd.DataFrame(mapped, columns=cols).astype(object)
    frame = frame.where(frame.notna(), None)
    frame["source_record"] = frame["source_record"].astype("int64")
    frame[schemas.SOURCE_ROW] = pd.Series(range(1, len(frame) + 1), dtype="int64")
    return frame


def _unmapped_frame(unmapped: list[dict[str, object]], n_mapped: int) -> pd.DataFrame:
    """Unmapped lines: quarantine columns (``row`` after the last ``source_row``), provenance, values."""
    cols = [*schemas.QUARANTINE_COLUMNS, *PROVENANCE, *ROW_COLUMNS, SEGMENTS_COLUMN]
    frame = pd.DataFrame(unmapped, columns=cols).astype(object)
    frame = frame.where(frame.notna(), None)
    frame["row"] = pd.Series(range(n_mapped + 1, n_mapped + 1 + len(frame)), dtype="int64")
    frame["source_record"] = frame["source_record"].astype("int64")
    return frame


# --------------------------------------------------------------------------
# 835 remittances
# --------------------------------------------------------------------------
#: Columns of :func:`read_835`, one row per paid service line (SVC, loop 2110):
#:
#: * ``source_file`` (name), ``source_record`` (1-based SVC line in the file);
#: * ``claim_id``: CLP01, the 837's CLM01; ``claim_status``: CLP02 (1, 2, 3
#:   processed as primary / secondary / tertiary, 4 denied, 22 reversal of a
#:   previous payment...); ``payer_claim_id``: CLP07;
#: * ``line_order``: 1-based SVC position inside its CLP;
#: * ``hcpcs``: SVC01-2; ``modifiers``: SVC01-3..6 joined by ``,`` (None when none);
#: * ``charge``: SVC02, ``paid_amount``: SVC03 (dollars, float64);
#: * ``units_paid``: SVC05 (Int64; 1 when absent, as the guide says);
#: * ``service_date``: DTM*472 of the line, else the claim's DTM*232
#:   (statement period start), ``YYYY-MM-DD`` text or None;
#: * ``adjustment_amount``: sum of the line's CAS amounts (dollars, 0.0 when
#:   none); ``adjustments``: ``GROUP-REASON:AMOUNT`` joined by ``;`` in file
#:   order (e.g. ``CO-45:90;PR-2:10``);
#: * ``problem``: scrubbed pyx12 element errors on the line or its claim, else None.
REMIT_COLUMNS: tuple[str, ...] = (
    "source_file", "source_record", "claim_id", "claim_status", "payer_claim_id", "line_order",
    "hcpcs", "modifiers", "charge", "paid_amount", "units_paid", "service_date",
    "adjustment_amount", "adjustments", "problem",
)
REVERSAL_STATUS = "22"


def _iter_remit_claims(path: Path, text: str) -> Iterator[object]:
    """Every CLP loop (2100) of a validated 835 interchange, in file order."""
    errh = pyx12.error_handler.errh_null()
    reader = pyx12.x12context.X12ContextReader(pyx12.params.params(), errh, io.StringIO(text))
    for node in reader.iter_segments("2100"):
        if node.id == "GS" and node.get_value("GS08") != REMIT_VERSION:
            raise X12Error(path, f"not an 835 remittance file (GS08 {node.get_value('GS08')})")
        if node.id == "2100":
            yield node


def _adjustments(line: object) -> tuple[float, str | None]:
    """(total amount, ``GROUP-REASON:AMOUNT;...``) of the CAS segments of one 2110 loop.

    A CAS holds up to six (reason, amount, quantity) triplets after its group code.
    """
    total, parts = 0.0, []
    for item in line.iterate_segments():  # type: ignore[attr-defined]
        seg = item["segment"]
        if seg.get_seg_id() != "CAS":
            continue
        group = seg.get_value("CAS01")
        for first in range(2, 20, 3):
            reason, amount = seg.get_value(f"CAS{first:02d}"), seg.get_value(f"CAS{first + 1:02d}")
            if reason and amount:
                total += float(amount)
                parts.append(f"{group}-{reason}:{amount}")
    return round(total, 2), ";".join(parts) or None


def _remit_line(path: Path, claim: object, line: object, order: int) -> dict[str, object]:
    """One 835 row (:data:`REMIT_COLUMNS` but ``source_record`` and ``problem``)."""
    get = line.get_value  # type: ignore[attr-defined]
    amount, text = _adjustments(line)
    statement = claim.get_value("DTM[232]02")  # type: ignore[attr-defined]
    service = _date(None, get("DTM[472]02")) or _date(None, statement)
    return {
        "source_file": path.name,
        "claim_id": claim.get_value("CLP01"),  # type: ignore[attr-defined]
        "claim_status": claim.get_value("CLP02"),  # type: ignore[attr-defined]
        "payer_claim_id": claim.get_value("CLP07"),  # type: ignore[attr-defined]
        "line_order": order,
        "hcpcs": get("SVC01-2"),
        "modifiers": _modifiers(line, "SVC01"),
        "charge": pd.to_numeric(get("SVC02"), errors="coerce"),
        "paid_amount": pd.to_numeric(get("SVC03"), errors="coerce"),
        "units_paid": pd.to_numeric(get("SVC05") or "1", errors="coerce"),
        "service_date": service,
        "adjustment_amount": amount,
        "adjustments": text,
    }


def read_835(paths: Sequence[Path]) -> pd.DataFrame:
    """Paid service lines of 835 remittance files (:data:`REMIT_COLUMNS`).

    Validation as for 837 files (module docstring): FATAL pyx12 errors
    refuse the file; element errors are written to ``problem`` on their line
    (or every line of their claim) and :func:`match_remits` ignores such lines.

    Raises:
        X12Error: a file is not X12, not an 835 (005010X221A1), or rejected.
    """
    rows: list[dict[str, object]] = []
    for path in map(Path, paths):
        text = _read_text(path)
        problems = validate_x12(path, text)
        record = 0
        for claim in _iter_remit_claims(path, text):
            claim_pos = _positions(claim, inside_lines=False, line_loop="2110")
            for order, line in enumerate(claim.select("2110"), start=1):  # type: ignore[attr-defined]
                record += 1
                own = _positions(line, inside_lines=True, line_loop="2110") | claim_pos
                found = [p.text for p in problems if p.line in own]
                rows.append({**_remit_line(path, claim, line, order), "source_record": record,
                             "problem": "; ".join(found) or None})
    frame = pd.DataFrame(rows, columns=list(REMIT_COLUMNS))
    for name in ("charge", "paid_amount", "adjustment_amount"):
        frame[name] = frame[name].astype("float64")
    for name in ("source_record", "line_order", "units_paid"):
        frame[name] = frame[name].astype("Int64")
    return frame


# --------------------------------------------------------------------------
# Matching remittance lines to claim lines
# --------------------------------------------------------------------------
MATCH_KEY: tuple[str, ...] = ("claim_id", "hcpcs", "modifiers", "service_date")


def _match_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalised :data:`MATCH_KEY` as text: codes upper-cased, modifiers ``A,B`` ("" when none),
    dates ``YYYY-MM-DD`` whatever their type (``datetime.date``, Timestamp, text)."""
    out = pd.DataFrame(index=frame.index)
    out["claim_id"] = frame["claim_id"].astype("string").str.strip()
    out["hcpcs"] = frame["hcpcs"].astype("string").str.strip().str.upper()
    mods = frame["modifiers"].astype("string").str.upper().str.replace(r"[\s,;:]+", ",", regex=True)
    out["modifiers"] = mods.str.strip(",").fillna("")
    dates = pd.to_datetime(frame["service_date"].astype("string"), errors="coerce", format="mixed")
    out["service_date"] = dates.dt.strftime("%Y-%m-%d").astype("string")
    return out.fillna("")


def match_remits(claims: pd.DataFrame, remits: pd.DataFrame) -> pd.DataFrame:
    """Attach what the payer paid to each claim line.

    A claim line and a remittance line match on :data:`MATCH_KEY` (claim id,
    procedure, modifiers, service date) and, when several lines share that
    key, on their order: the k-th claim line of the key (by ``line_number``)
    takes the k-th remittance line (by file order). Reversals
    (``claim_status`` 22) and remittance lines with a ``problem`` are not
    used. Pure; ``claims`` may be raw or staged.

    Returns:
        ``claims`` (same rows, order and index) plus ``paid_amount``
        (float64 dollars, NaN when unmatched), ``units_paid`` (Int64),
        ``remit_adjustment_amount`` (float64), ``remit_adjustments``,
        ``remit_status`` (CLP02) and ``remit_matched`` (bool).
    """
    usable = remits[remits["claim_status"].ne(REVERSAL_STATUS) & remits["problem"].isna()]
    usable = usable.reset_index(drop=True)
    rkey = _match_keys(usable)
    rkey["_k"] = rkey.groupby(list(MATCH_KEY), sort=False).cumcount()
    rkey["_r"] = range(len(rkey))
    plain = claims.reset_index(drop=True)  # positions, whatever the caller's index
    ckey = _match_keys(plain)
    order = pd.to_numeric(plain.get("line_number", pd.Series(0, index=plain.index)), errors="coerce")
    ckey["_k"] = (ckey.assign(_o=order).sort_values(["_o"], kind="mergesort")
                  .groupby(list(MATCH_KEY), sort=False).cumcount())
    ckey["_pos"] = range(len(ckey))
    joined = ckey.merge(rkey, on=[*MATCH_KEY, "_k"], how="left").sort_values("_pos", kind="mergesort")
    found = joined["_r"].notna().to_numpy()
    pick = usable.reindex(joined["_r"].fillna(-1).astype(int).to_numpy()).reset_index(drop=True)
    out = claims.copy()
    out["paid_amount"] = pick["paid_amount"].astype("float64").to_numpy()
    out["units_paid"] = pd.array(pick["units_paid"].to_numpy(), dtype="Int64")
    out["remit_adjustment_amount"] = pick["adjustment_amount"].astype("float64").to_numpy()
    out["remit_adjustments"] = pick["adjustments"].astype(object).to_numpy()
    out["remit_status"] = pick["claim_status"].astype(object).to_numpy()
    out["remit_matched"] = found
    return out
