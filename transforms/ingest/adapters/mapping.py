"""EHR MAR reports mapped onto the canonical MAR through declarative TOML profiles.

A site exports a MAR report from its EHR (Epic, Cerner, ...) as CSV or
Parquet; a *mapping profile* says which report column holds which canonical
column and what the report's words mean. No code changes per site: a user
copies a shipped profile (``profiles/epic.toml``, ``profiles/cerner.toml``),
edits it and passes its path.

Profile sections (every word and column name is matched case-insensitively,
trimmed, runs of blanks as one space):

``[columns]``
    canonical column -> report column. The canonical names are
    ``schemas.MAR_COLUMNS`` plus ``visit_id`` (contract section 1: a visit or
    contact inside one billing encounter). Every required canonical column
    (``schemas.MAR_REQUIRED``) must be mapped; a mapped optional column that
    the report lacks is simply missing.
``[actions]``
    report action word -> canonical action (``start``, ``rate_change``,
    ``pause``, ``resume``, ``stop``, ``given``), or ``"exclude"``, or
    ``{ exclude = "reason" }``. Excluded rows go to ``unmapped`` with the
    reason (``Due``, ``Not Given``, ``Held``: charted, never administered).
``[routes]``
    report route word -> a canonical route (``schemas.ROUTES``), or
    ``"exclude"`` / ``{ exclude = "reason" }``, or an action-dependent table
    ``{ given = "iv_push", default = "iv_infusion" }``.
    **Route + action rule**: the action is mapped first; then the route word
    is looked up; a plain value applies to every action; a table is read
    with the canonical action as key, falling back to ``default``. So one
    Epic route word "Intravenous" gives ``iv_push`` for a Given dose and
    ``iv_infusion`` for New Bag / Stopped. A table with neither the action
    nor ``default`` leaves the row unmapped, naming the word and the action.
``[time]``
    ``format`` = a strptime format (``"%m/%d/%Y %H:%M"``) or ``"iso"``;
    ``local`` = true (default: wall time in the facility zone, read by
    :func:`transforms.ingest.readers.stage_mar`, which handles DST) or false
    (the report's times are UTC). A format with ``%z`` carries its offset.
``[defaults]``
    canonical column -> constant used where the report gives no value (or
    has no such column), e.g. ``rate_unit = "mL/h"``. Not for ``action``,
    ``route``, ``event_time`` (those go through the tables above).

Rows whose action or route word is excluded or unknown to the profile, or
whose time does not match ``[time] format``, are kept out with a reason in
``unmapped``; blank required values are left missing for validation to
quarantine. Everything is vectorised (pandas ``map`` / ``str``); the only
Python loop is over files.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.frames import text
from transforms.ingest import file_reading, readers
from transforms.ingest.adapters import PROVENANCE, MappedExtract
from transforms.ingest.readers import ExtractError
from transforms.vocab import schemas

EXCLUDE = "exclude"
DEFAULT = "default"
ISO = "iso"
VISIT = "visit_id"
#: Canonical columns a profile may map: the MAR columns of the contract.
MAPPABLE: tuple[str, ...] = tuple(dict.fromkeys((*schemas.MAR_COLUMNS, VISIT)))
#: Canonical columns whose values go through a word table or the time format.
_TRANSLATED: frozenset[str] = frozenset({"action", "route", "event_time"})
_SECTIONS: frozenset[str] = frozenset({"columns", "actions", "routes", "time", "defaults"})
_PROFILES_PACKAGE = "transforms.ingest.adapters.profiles"
# Round-trip probe for strptime formats: every field distinct and the hour
# after noon, so a format missing the year, the minutes or AM/PM fails.
_PROBE = datetime(2026, 11, 2, 22, 7, 9)
_SEP = "\x1f"  # joins (route word, action) into one dictionary key


class ProfileError(ValueError):
    """A mapping profile that cannot be used; one line naming the profile and every problem."""


@dataclass(frozen=True)
class MappingProfile:
    """A validated mapping profile (see the module docstring).

    Attributes:
        name: the profile's name (file stem); the ``format`` of its extracts.
        origin: where it was loaded from, for messages.
        columns: canonical column -> report column as written in the profile.
        actions: normalised action word -> canonical action or ``EXCLUDE``.
        action_reasons: normalised action word -> reason, for excluded words.
        routes: ``word + _SEP + (action or DEFAULT)`` -> canonical route or ``EXCLUDE``.
        route_reasons: same keys -> reason, for excluded routes.
        time_format: strptime format or ``"iso"``.
        local_time: True when times without offset are facility wall time.
        defaults: canonical column -> constant text.
    """

    name: str
    origin: str
    columns: Mapping[str, str]
    actions: Mapping[str, str]
    action_reasons: Mapping[str, str]
    routes: Mapping[str, str]
    route_reasons: Mapping[str, str]
    time_format: str
    local_time: bool
    defaults: Mapping[str, str]

    def report_column(self, canonical: str) -> str:
        """The normalised (lower-cased, trimmed) report column of ``canonical``."""
        return _norm(self.columns[canonical])

    @property
    def required_report_columns(self) -> dict[str, str]:
        """Canonical required column -> report column (as written) the report must have."""
        return {c: self.columns[c] for c in schemas.MAR_REQUIRED}


def _norm(word: str) -> str:
    """A word or column name as matched: trimmed, blanks collapsed, lower case."""
    return " ".join(str(word).split()).lower()


def _norm_series(values: pd.Series) -> pd.Series:
    """:func:`_norm` over a Series (``None`` stays ``None``)."""
    trimmed = text(values)
    return trimmed.where(trimmed.isna(), trimmed.str.replace(r"\s+", " ", regex=True).str.lower())


# --------------------------------------------------------------------------
# Loading and validating profiles
# --------------------------------------------------------------------------
def shipped_profiles() -> list[str]:
    """Names of the profiles shipped in ``profiles/`` (sorted)."""
    folder = resources.files(_PROFILES_PACKAGE)
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path) -> MappingProfile:
    """Load and validate a mapping profile.

    Args:
        name_or_path: a shipped profile's name (``"epic"``: a ``str`` without
            path separator or ``.toml`` suffix), or the path of a TOML file.

    Raises:
        ProfileError: unknown name, unreadable file, invalid TOML, or any
            content problem (all of them listed in one message).
    """
    spec = str(name_or_path)
    shipped = isinstance(name_or_path, str) and not spec.endswith(".toml") and not any(
        sep in spec for sep in ("/", "\\"))
    if shipped:
        if spec not in shipped_profiles():
            raise ProfileError(f"no shipped mapping profile {spec!r} (shipped: "
                               f"{', '.join(shipped_profiles())}); pass the path of a .toml file")
        name, origin = spec, f"shipped profile {spec}.toml"
        body = resources.files(_PROFILES_PACKAGE).joinpath(f"{spec}.toml").read_text("utf-8")
    else:
        path = Path(name_or_path)
        name, origin = path.stem, str(path)
        try:
            body = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ProfileError(f"mapping profile {origin}: cannot read ({type(err).__name__})") from None
    try:
        doc = tomllib.loads(body)
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"mapping profile {origin}: not valid TOML ({err})") from None
    return _parse(doc, name, origin)


def _parse(doc: dict, name: str, origin: str) -> MappingProfile:
    """Validate every section; raise one :class:`ProfileError` listing all problems."""
    problems: list[str] = [f"unknown section [{s}] (known: {', '.join(sorted(_SECTIONS))})"
                           for s in doc if s not in _SECTIONS]
    columns = _parse_columns(_section(doc, "columns", problems), problems)
    actions, action_reasons = _parse_actions(_section(doc, "actions", problems), problems)
    routes, route_reasons = _parse_routes(_section(doc, "routes", problems), problems)
    time_format, local = _parse_time(_section(doc, "time", problems), problems)
    defaults = _parse_defaults(_section(doc, "defaults", problems, required=False), problems)
    if problems:
        raise ProfileError(f"mapping profile {origin}: " + "; ".join(problems))
    return MappingProfile(name, origin, columns, actions, action_reasons, routes, route_reasons,
                          time_format, local, defaults)


def _section(doc: dict, key: str, problems: list[str], required: bool = True) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"[{key}] must be a table")
        return {}
    if required and not value:
        problems.append(f"section [{key}] is missing or empty")
    return value


def _parse_columns(section: dict, problems: list[str]) -> dict[str, str]:
    """Canonical -> report column; names checked, required columns present."""
    columns: dict[str, str] = {}
    for canonical, report in section.items():
        if canonical not in MAPPABLE:
            problems.append(f"[columns] {canonical!r} is not a canonical MAR column "
                            f"(known: {', '.join(MAPPABLE)})")
        elif not isinstance(report, str) or not report.strip():
            problems.append(f"[columns] {canonical} must name a report column (non-empty text)")
        else:
            columns[canonical] = report.strip()
    missing = [c for c in schemas.MAR_REQUIRED if c not in section]
    if section and missing:
        problems.append(f"[columns] lacks required canonical column(s): {', '.join(missing)}")
    return columns


def _exclusion(value: object, where: str, problems: list[str]) -> str | None:
    """The reason of an ``"exclude"`` / ``{exclude = "reason"}`` value, else ``None``."""
    if value == EXCLUDE:
        return f"excluded by {where}"
    if isinstance(value, dict) and set(value) == {EXCLUDE}:
        reason = value[EXCLUDE]
        if isinstance(reason, str) and reason.strip():
            return " ".join(reason.split())
        problems.append(f"{where}: the exclusion reason must be non-empty text")
        return f"excluded by {where}"
    return None


def _parse_actions(section: dict, problems: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Word -> canonical action or EXCLUDE, and word -> exclusion reason."""
    actions: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for word, target in section.items():
        key = _norm(word)
        where = f"[actions] {word!r}"
        if not key or key in actions:
            problems.append(f"{where}: empty or listed twice (words are case-insensitive)")
            continue
        reason = _exclusion(target, where, problems)
        if reason is not None:
            actions[key], reasons[key] = EXCLUDE, reason
        elif isinstance(target, str) and target in schemas.ACTIONS:
            actions[key] = target
        else:
            problems.append(f"{where}: unknown action target {target!r} (known: "
                            f"{', '.join(sorted(schemas.ACTIONS))}, or \"exclude\")")
    return actions, reasons


def _parse_routes(section: dict, problems: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``word + _SEP + action|default`` -> route or EXCLUDE, and the same keys -> reason."""
    routes: dict[str, str] = {}
    reasons: dict[str, str] = {}
    seen: set[str] = set()
    for word, target in section.items():
        key = _norm(word)
        where = f"[routes] {word!r}"
        if not key or key in seen:
            problems.append(f"{where}: empty or listed twice (words are case-insensitive)")
            continue
        seen.add(key)
        per_action = target if isinstance(target, dict) and EXCLUDE not in target else {DEFAULT: target}
        for action, route in per_action.items():
            if action != DEFAULT and action not in schemas.ACTIONS:
                problems.append(f"{where}: {action!r} is neither a canonical action nor 'default'")
                continue
            reason = _exclusion(route, where, problems)
            if reason is not None:
                routes[key + _SEP + action], reasons[key + _SEP + action] = EXCLUDE, reason
            elif isinstance(route, str) and route in schemas.ROUTES:
                routes[key + _SEP + action] = route
            else:
                problems.append(f"{where}: unknown route target {route!r} (known: "
                                f"{', '.join(sorted(schemas.ROUTES))}, or \"exclude\")")
    return routes, reasons


def _parse_time(section: dict, problems: list[str]) -> tuple[str, bool]:
    """``(format, local)``; a strptime format must round-trip a full date and time."""
    unknown = sorted(set(section) - {"format", "local"})
    if unknown:
        problems.append(f"[time] unknown key(s): {', '.join(unknown)} (known: format, local)")
    fmt = section.get("format")
    local = section.get("local", True)
    if not isinstance(local, bool):
        problems.append("[time] local must be true or false")
        local = True
    if not isinstance(fmt, str) or not fmt.strip():
        problems.append("[time] format is required: a strptime format such as "
                        "\"%m/%d/%Y %H:%M\", or \"iso\"")
        return ISO, local
    if fmt.strip().lower() == ISO:
        return ISO, local
    probe = _PROBE.replace(tzinfo=timezone.utc) if "%z" in fmt else _PROBE
    try:
        # Minutes precision is enough: a format without %S reads seconds as 0.
        ok = datetime.strptime(probe.strftime(fmt), fmt).replace(second=probe.second) == probe
    except ValueError:
        ok = False
    if not ok:
        problems.append(f"[time] bad time format {fmt!r}: it must read a full date and time "
                        "(year, month, day, hour, minute; %I needs %p), e.g. \"%m/%d/%Y %H:%M\", or \"iso\"")
    return fmt, local


def _parse_defaults(section: dict, problems: list[str]) -> dict[str, str]:
    """Canonical column -> constant text (not for action, route, event_time)."""
    defaults: dict[str, str] = {}
    for canonical, value in section.items():
        if canonical not in MAPPABLE or canonical in _TRANSLATED:
            problems.append(f"[defaults] {canonical!r} cannot have a default (a canonical MAR "
                            "column other than action, route, event_time)")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            problems.append(f"[defaults] {canonical}: the value must be non-empty text or a number")
        else:
            defaults[canonical] = str(value).strip()
    return defaults


# --------------------------------------------------------------------------
# Reading reports
# --------------------------------------------------------------------------
def _header(path: Path) -> list[str]:
    """The report's normalised column names (lower-cased, trimmed), reading the header only."""
    name = path.name.lower()
    if name.endswith(readers._CSV_SUFFIXES):
        try:
            names = file_reading._csv_header(path, name.endswith(".gz"))
        except (OSError, UnicodeDecodeError, EOFError) as err:
            raise ExtractError(path, f"cannot read header ({type(err).__name__})") from None
    elif name.endswith(readers._PARQUET_SUFFIXES):
        try:
            names = file_reading._normalise_names(path, pq.read_schema(path).names)
        except (OSError, pa.ArrowException, ValueError) as err:
            raise ExtractError(path, f"not a readable Parquet file ({type(err).__name__})") from None
    else:
        raise ExtractError(path, "unsupported file type for a mapped MAR report "
                                 "(expected .csv, .csv.gz, .parquet or .pq)")
    return [_norm(n) for n in names]


def profile_matches(path: Path, profile: MappingProfile) -> bool:
    """True when ``path``'s header holds every report column of the profile's
    required canonical columns (optional mapped columns may be absent).

    Reads the header only; an unreadable or non-tabular file never matches.
    """
    try:
        header = set(_header(Path(path)))
    except ExtractError:
        return False
    return all(_norm(c) in header for c in profile.required_report_columns.values())


def _read_report(path: Path, profile: MappingProfile) -> pd.DataFrame:
    """The report's raw frame (normalised column names, values as read), checked
    against the profile's required columns (all missing ones named)."""
    name = path.name.lower()
    if name.endswith(readers._CSV_SUFFIXES):
        raw = file_reading._read_csv(path)
    elif name.endswith(readers._PARQUET_SUFFIXES):
        raw = file_reading._read_parquet(path)
    else:
        raise ExtractError(path, "unsupported file type for a mapped MAR report "
                                 "(expected .csv, .csv.gz, .parquet or .pq)")
    raw.columns = [_norm(c) for c in raw.columns]
    missing = [f"{report!r} (for {canonical})" for canonical, report in
               profile.required_report_columns.items() if _norm(report) not in raw.columns]
    if missing:
        raise ExtractError(path, f"report column(s) {', '.join(missing)} required by mapping "
                                 f"profile {profile.name!r} ({profile.origin}) not found in the header")
    return raw.reset_index(drop=True)


# --------------------------------------------------------------------------
# Mapping values (vectorised)
# --------------------------------------------------------------------------
def _report_values(raw: pd.DataFrame, profile: MappingProfile, canonical: str) -> pd.Series:
    """The report column of ``canonical`` as raw values (all-missing when unmapped or absent)."""
    column = profile.report_column(canonical) if canonical in profile.columns else None
    if column is not None and column in raw.columns:
        return raw[column]
    return pd.Series(np.full(len(raw), None, dtype=object), index=raw.index, dtype=object)


def _map_actions(raw: pd.DataFrame, profile: MappingProfile) -> tuple[pd.Series, np.ndarray]:
    """(canonical action or None, reason or '') per row.

    Blank action -> None and no reason (validation quarantines a missing
    action); excluded word -> the profile's reason; unknown word -> a reason
    that names it and says to add it to the profile.
    """
    charted = text(_report_values(raw, profile, "action"))
    word = _norm_series(charted)
    target = word.map(profile.actions)
    unknown = word.notna() & target.isna()
    excluded = target.eq(EXCLUDE).fillna(False)
    reason = np.where(
        unknown,
        "action '" + charted.fillna("") + f"' is not in [actions] of mapping profile '{profile.name}'; "
        "add it to the profile (a canonical action or \"exclude\")",
        np.where(excluded, "action '" + charted.fillna("") + "' excluded: "
                 + word.map(profile.action_reasons).fillna(""), ""),
    )
    action = target.where(target.notna() & ~excluded, None).astype(object)
    return action, reason.astype(object)


def _map_routes(raw: pd.DataFrame, profile: MappingProfile, action: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(canonical route or None, reason or '') per row: the route + action rule.

    The entry for (word, canonical action) wins over (word, default). Blank
    route -> None and no reason (validation quarantines it).
    """
    charted = text(_report_values(raw, profile, "route"))
    word = _norm_series(charted)
    key = word + _SEP
    by_action = (key + action.fillna("")).map(profile.routes)
    by_default = (key + DEFAULT).map(profile.routes)
    target = by_action.fillna(by_default)
    reason_key = (key + action.fillna("")).where(by_action.notna(), key + DEFAULT)
    known_word = word.isin({k.split(_SEP)[0] for k in profile.routes})
    unknown = word.notna() & target.isna()
    excluded = target.eq(EXCLUDE).fillna(False)
    name = f"[routes] of mapping profile '{profile.name}'"
    reason = np.where(
        unknown & ~known_word,
        "route '" + charted.fillna("") + f"' is not in {name}; add it to the profile",
        np.where(
            unknown,
            "route '" + charted.fillna("") + "' has no entry for action '" + action.fillna("")
            + f"' nor 'default' in {name}; add one",
            np.where(excluded, "route '" + charted.fillna("") + "' excluded: "
                     + reason_key.map(profile.route_reasons).fillna(""), ""),
        ),
    )
    route = target.where(target.notna() & ~excluded, None).astype(object)
    return route, reason.astype(object)


def _iso_from_datetimes(stamps: pd.Series, local: bool) -> pd.Series:
    """ISO-8601 text of parsed datetimes: aware -> with offset; naive -> local wall
    time (no offset) or UTC (``+00:00``). NaT -> None."""
    if stamps.dt.tz is not None:
        iso = stamps.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"
    else:
        iso = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + ("" if local else "+00:00")
    # Whole seconds are written without a fraction (readable, same instant).
    iso = iso.str.replace(r"\.000000(?=\+|$)", "", regex=True)
    return iso.where(stamps.notna(), None).astype(object)


def _map_times(raw: pd.DataFrame, profile: MappingProfile) -> tuple[pd.Series, np.ndarray]:
    """(ISO-8601 text or None, reason or '') per row.

    ``iso``: the text is passed on (UTC appended when ``local = false`` and no
    offset is given); the readers parse or quarantine it. A strptime format:
    a time given but not matching it is unmapped with a reason naming the
    format. Parquet datetimes are converted whatever the format.
    """
    values = _report_values(raw, profile, "event_time")
    column = profile.columns["event_time"]
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _iso_from_datetimes(values, profile.local_time), np.full(len(values), "", dtype=object)
    given = text(values)
    if profile.time_format == ISO:
        has_offset = given.str.contains(r"(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$", case=False, regex=True, na=False)
        suffix = "" if profile.local_time else "+00:00"
        return given.where(has_offset | given.isna(), given + suffix), np.full(len(values), "", dtype=object)
    with_offset = "%z" in profile.time_format
    parsed = pd.to_datetime(given, format=profile.time_format, errors="coerce", utc=with_offset)
    bad = given.notna() & parsed.isna()
    reason = np.where(bad, f"time in '{column}' does not match [time] format "
                           f"'{profile.time_format}' of mapping profile '{profile.name}'", "")
    return _iso_from_datetimes(parsed, profile.local_time), reason.astype(object)


# --------------------------------------------------------------------------
# Assembling the extract
# --------------------------------------------------------------------------
def _output_columns(profile: MappingProfile) -> list[str]:
    """Canonical columns of ``rows``: the contract's, plus ``visit_id`` when mapped
    (kept by staging as an extra column until the schemas list it)."""
    extra = [VISIT] if VISIT in profile.columns and VISIT not in schemas.MAR_COLUMNS else []
    return [*schemas.MAR_COLUMNS, *extra]


def _canonical(raw: pd.DataFrame, profile: MappingProfile, action: pd.Series, route: pd.Series,
               event_time: pd.Series) -> pd.DataFrame:
    """Every report row as canonical text columns (``None`` when missing), defaults filled."""
    out = pd.DataFrame(index=raw.index)
    for canonical in _output_columns(profile):
        values = text(_report_values(raw, profile, canonical))
        if canonical in profile.defaults:
            values = values.where(values.notna(), profile.defaults[canonical])
        out[canonical] = values.astype(object)
    out["action"], out["route"], out["event_time"] = action, route, event_time
    return out


def _originals(raw: pd.DataFrame) -> pd.DataFrame:
    """The report's values as text, a name that clashes with a quarantine or
    provenance column prefixed ``raw_`` (as :func:`split_quarantine` does)."""
    taken = {*schemas.QUARANTINE_COLUMNS, *PROVENANCE}
    return pd.DataFrame({(f"raw_{c}" if c in taken else c): text(raw[c]) for c in raw.columns},
                        index=raw.index)


def _map_file(path: Path, profile: MappingProfile) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One report -> (mapped rows, unmapped records), both with provenance.

    Reasons are checked in order action, route, time: a row is unmapped for
    its first problem. Invariant: ``len(rows) + len(unmapped) == records``.
    """
    raw = _read_report(path, profile)
    action, action_why = _map_actions(raw, profile)
    route, route_why = _map_routes(raw, profile, action)
    event_time, time_why = _map_times(raw, profile)
    columns = [profile.report_column(c) for c in ("action", "route", "event_time")]
    reason = np.where(action_why != "", action_why, np.where(route_why != "", route_why, time_why))
    column = np.where(action_why != "", columns[0], np.where(route_why != "", columns[1], columns[2]))
    bad = reason != ""
    provenance = pd.DataFrame({"source_file": path.name,
                               "source_record": np.arange(1, len(raw) + 1, dtype="int64")})
    rows = pd.concat([_canonical(raw, profile, action, route, event_time), provenance], axis=1)
    unmapped = pd.concat([
        pd.DataFrame({"source": "mar", "column": column, "reason": reason}),
        provenance, _originals(raw)], axis=1)
    return rows[~bad], unmapped[bad]


def read_mapped(paths: Sequence[Path], profile: MappingProfile) -> MappedExtract:
    """Map EHR MAR reports onto the canonical MAR with ``profile``.

    Args:
        paths: report files (CSV / CSV.gz / Parquet), all of this profile.
        profile: from :func:`load_profile`.

    Returns:
        ``MappedExtract(kind="mar", format=profile.name)``: ``rows`` hold
        ``schemas.MAR_COLUMNS`` as text (times ISO-8601: local wall time
        without offset when ``[time] local``, else UTC), ``visit_id`` when
        mapped, :data:`PROVENANCE` (file name only; 1-based data row), and
        ``source_row`` 1..n across files in input order; ``unmapped`` rows
        are numbered ``n+1..`` and carry the report's values as text.

    Raises:
        ExtractError: a file unreadable, of an unsupported type, or lacking a
            report column the profile needs for a required canonical column.
        AssertionError: the records do not reconcile (a bug).
    """
    mapped, unmapped, records = [], [], 0
    for path in map(Path, paths):  # one iteration per file, vectorised inside
        rows, rest = _map_file(path, profile)
        mapped.append(rows)
        unmapped.append(rest)
        records += len(rows) + len(rest)
    columns = [*_output_columns(profile), *PROVENANCE]
    rows = pd.concat([pd.DataFrame(columns=columns), *mapped], ignore_index=True)[columns]
    rows = rows.astype({c: object for c in columns if c != "source_record"})
    rows["source_record"] = rows["source_record"].astype("int64")
    rows[schemas.SOURCE_ROW] = np.arange(1, len(rows) + 1, dtype="int64")
    head = [*schemas.QUARANTINE_COLUMNS, *PROVENANCE]
    rest = pd.concat([pd.DataFrame(columns=[c for c in head if c != "row"]), *unmapped],
                     ignore_index=True)
    rest.insert(1, "row", np.arange(len(rows) + 1, len(rows) + len(rest) + 1, dtype="int64"))
    rest["source_record"] = rest["source_record"].astype("int64")
    rest = rest.astype({c: object for c in rest.columns if c not in ("row", "source_record")})
    rest = rest.where(rest.notna(), None)
    if len(rows) + len(rest) != records:
        raise AssertionError(f"mapped MAR does not reconcile: {records} records in, "
                             f"{len(rows)} rows + {len(rest)} unmapped")
    return MappedExtract(kind="mar", format=profile.name, rows=rows, unmapped=rest)
