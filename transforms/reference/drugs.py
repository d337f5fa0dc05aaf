"""Drug knowledge: the reference table and a vectorised drug classifier.

The audit needs to know, for every MAR row, what kind of substance was given,
because the code family depends on it: chemotherapy / complex drugs
(96401-96549), other therapeutic drugs (96365-96379), hydration (96360/96361),
and things that are never a drug-administration service (diluents, flushes,
keep-vein-open fluid, blood products, nutrition, contrast...).

Reference
    ``transforms/reference/tables/drugs.csv`` has one row per canonical drug (``drug_key``)
    with its reference class (``chemo``, ``therapeutic``, ``hydration``,
    ``electrolyte``, ``diluent``, ``not_reportable``), a ``hormonal`` flag and
    the pipe-separated aliases (``names``) it is charted as. Users may add or
    replace rows with their own CSV (``extra``) and load their licensed NDC
    mapping (``ndc``). :func:`load_drug_reference` validates everything once
    and compiles an alias index.

Matching
    Text is folded to lower-case ASCII and cut into tokens: runs of letters,
    numbers (``1,000`` -> ``1000``, ``.9`` -> ``0.9``, ``1/2`` kept whole) and
    ``%``; every other character separates tokens, so ``riTUXimab-abbs``,
    ``rituximab abbs`` and ``RITUXIMAB/ABBS`` are the same, ``0.9 %`` equals
    ``0.9%`` and ``D5W`` equals ``d 5 w``. Aliases are cut the same way.
    Scanning left to right, the longest alias that starts at a token wins and
    the scan resumes after it, so aliases only ever match whole words
    (``ns`` never matches inside ``insulin``) and ``sodium chloride 0.45 %``
    beats ``sodium chloride``.

    The first free-standing ``in`` splits the drug from its vehicle
    (``vancomycin 1 g in sodium chloride 0.9 % 250 mL``). Only aliases before
    it compete, highest class first (chemo > therapeutic > electrolyte >
    hydration > diluent > not_reportable, then the earliest); the vehicle
    after it only counts when the part before is itself a fluid or an
    electrolyte. A string with flush / KVO / TKO / keep-vein-open / lock
    wording is ``diluent`` whatever else it names; ``carrier`` / ``diluent``
    wording turns a plain fluid into ``diluent``.

Electrolytes
    ``electrolyte`` is never an output class. An electrolyte in a large-volume
    fluid (a hydration fluid named with >= 250 mL or with no volume, or an
    unnamed vehicle of >= 250 mL) takes the policy ``electrolyte_in_fluid``
    (``hydration`` by default, R-G1; ``therapeutic`` per D21); alone, in a
    small rider (< 250 mL) or in water it is ``therapeutic`` (R-D6).

Precedence per row: the MAR's own ``drug_class`` override, then the NDC
mapping, then the text. A plain-fluid result whose rate is known and at or
below ``kvo_max_rate_ml_h`` is ``diluent`` (keep-vein-open, R-G3). Nothing
matched is ``unknown``: the classifier never guesses.

Everything here is pure pandas/numpy/stdlib and deterministic; each distinct
(text, NDC, override, KVO-rate) combination is classified once and mapped back.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from transforms.reference import tables_dir

REFERENCE_DIR: Path = tables_dir()
"""Folder of the shipped ``drugs.csv`` and ``ndc_sample.csv``."""

DRUG_COLUMNS: tuple[str, ...] = ("drug_key", "drug_class", "hormonal", "group", "names", "note")
NDC_COLUMNS: tuple[str, ...] = ("ndc11", "drug_key")

#: Reference classes, highest rank first (the rank decides between aliases).
REFERENCE_CLASSES: tuple[str, ...] = (
    "chemo",
    "therapeutic",
    "electrolyte",
    "hydration",
    "diluent",
    "not_reportable",
)
#: Classes :func:`classify_drugs` can return.
OUTPUT_CLASSES: tuple[str, ...] = (
    "chemo",
    "therapeutic",
    "hydration",
    "diluent",
    "not_reportable",
    "unknown",
)
#: Values the MAR ``drug_class`` override column may hold (contract section 1).
OVERRIDE_CLASSES: tuple[str, ...] = ("chemo", "therapeutic", "hydration", "diluent")
CLASS_SOURCES: tuple[str, ...] = ("override", "ndc", "name", "kvo_rate", "unknown")
RESULT_COLUMNS: tuple[str, ...] = ("drug_key", "drug_class", "hormonal", "matched", "class_source")

#: Vehicle volume (mL) from which an electrolyte counts as added to a fluid.
LARGE_VOLUME_ML: float = 250.0

_RANK: dict[str, int] = {c: len(REFERENCE_CLASSES) - i for i, c in enumerate(REFERENCE_CLASSES)}
_KEY_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?|[a-z]+|%")
_NUMBER_RE = re.compile(r"^\d+(?:\.\d+)?$")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_BARE_DECIMAL_RE = re.compile(r"(?<![\d.])\.(?=\d)")
_APOSTROPHES_RE = re.compile("['\u2018\u2019`\u00b4]")
# Single-token aliases that would match ordinary order text.
_STOP_ALIASES = frozenset(
    {
        "in", "and", "with", "of", "per", "mg", "mcg", "g", "ml", "l", "meq", "unit",
        "units", "iv", "im", "sc", "po", "bag", "inj", "injection", "infusion",
        "solution", "bolus", "push", "drip", "premix", "ivpb", "vial", "dose",
    }
)  # fmt: skip
# Wording that makes a string a diluent whatever it names (R-G3, R-I1, R-I5).
_DILUENT_TOKENS = frozenset(
    {"flush", "flushes", "flushed", "flushing", "kvo", "tko", "lock", "locks", "heplock"}
)
_DILUENT_PHRASES: tuple[tuple[str, ...], ...] = (
    ("keep", "vein", "open"),
    ("keep", "veins", "open"),
    ("keep", "open"),
)
# Wording that makes a plain fluid a diluent (the carrier of a drug, R-G3).
_CARRIER_TOKENS = frozenset({"carrier", "diluent"})
_VOLUME_UNITS = {"ml": 1.0, "l": 1000.0, "liter": 1000.0, "liters": 1000.0, "litre": 1000.0}
_RATE_WORDS = frozenset({"h", "hr", "hrs", "hour", "hours", "min", "mins", "minute", "minutes", "kg"})
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0", ""})


def tokenize(text: str) -> tuple[str, ...]:
    """Cut drug text (or an alias) into matching tokens.

    Invariants: the result depends only on ``text``; letters are lower-case
    ASCII; numbers keep their decimals and ``a/b`` fractions; thousands
    separators are dropped; every other character only separates tokens.

    Args:
        text: drug text as charted, or one alias.

    Returns:
        The tokens, e.g. ``("d", "5", "1/2", "ns")`` for ``"D5 1/2NS"``.
    """
    s = unicodedata.normalize("NFKD", text)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).lower()
    s = s.replace("\u2044", "/")
    s = _APOSTROPHES_RE.sub("", s)
    s = _THOUSANDS_RE.sub("", s)
    s = _BARE_DECIMAL_RE.sub("0.", s)
    return tuple(_TOKEN_RE.findall(s))


@dataclass(frozen=True)
class _Analysis:
    """What the text of one distinct drug string says (policy-free)."""

    row: int  # reference row of the chosen alias, -1 when none
    matched: str | None  # the alias as written in the reference
    hydration_named: bool  # a hydration fluid is named anywhere
    vehicle_named: bool  # a hydration fluid or a diluent is named anywhere
    volume_ml: float | None  # largest volume written, None when none
    diluent_word: str | None  # flush / KVO / TKO / keep vein open / lock wording found
    carrier_wording: bool  # carrier / diluent


@dataclass(frozen=True, eq=False)
class DrugReference:
    """The validated drug table, the NDC mapping and the compiled alias index.

    Build it with :func:`load_drug_reference` (from CSV files) or
    :meth:`from_frames`; never mutate it. Invariants: ``drug_key`` is unique;
    every class is in :data:`REFERENCE_CLASSES`; every alias, once tokenized,
    belongs to exactly one key; every NDC is 11 digits and points at a key.

    Attributes:
        drugs: the drug rows, columns :data:`DRUG_COLUMNS`, ``hormonal`` bool.
        ndc: columns ``ndc11`` (11-digit string, unique) and ``drug_key``.
    """

    drugs: pd.DataFrame
    ndc: pd.DataFrame
    _aliases: Mapping[tuple[str, ...], tuple[int, str]] = field(repr=False)
    _max_alias_tokens: int = field(repr=False)
    _keys: tuple[str, ...] = field(repr=False)
    _classes: tuple[str, ...] = field(repr=False)
    _hormonal: tuple[bool, ...] = field(repr=False)
    _ndc_rows: Mapping[str, int] = field(repr=False)

    @classmethod
    def from_frames(
        cls,
        drugs: pd.DataFrame,
        ndc: pd.DataFrame | None = None,
        *,
        sources: Iterable[str] | None = None,
        ndc_sources: Iterable[str] | None = None,
    ) -> "DrugReference":
        """Validate in-memory tables and compile the alias index.

        Args:
            drugs: rows in the ``drugs.csv`` format (strings or bools).
            ndc: rows with ``ndc11`` and ``drug_key``; ``None`` for no NDCs.
            sources: a label per drug row used in error messages
                (default ``"drugs row N"``).
            ndc_sources: a label per NDC row used in error messages.

        Raises:
            ValueError: a missing column, an empty or malformed key, a
                duplicate key, a class outside the vocabulary, a bad hormonal
                flag, an empty or too generic alias, an alias claimed by two
                keys, a malformed or duplicate NDC, or an NDC naming an
                unknown key. The message names the offending row.
        """
        missing = [c for c in DRUG_COLUMNS if c not in drugs.columns]
        if missing:
            raise ValueError(f"drug reference: missing column(s) {missing}")
        table = drugs.loc[:, list(DRUG_COLUMNS)].reset_index(drop=True)
        labels = list(sources) if sources is not None else [f"drugs row {i + 1}" for i in range(len(table))]
        if len(labels) != len(table):
            raise ValueError("drug reference: one source label per row is required")

        keys: list[str] = []
        classes: list[str] = []
        hormonal: list[bool] = []
        seen_keys: dict[str, str] = {}
        aliases: dict[tuple[str, ...], tuple[int, str]] = {}
        alias_owner: dict[tuple[str, ...], str] = {}
        for i, rec in enumerate(table.itertuples(index=False)):
            where = labels[i]
            key = _clean(rec.drug_key)
            if not _KEY_RE.match(key):
                raise ValueError(f"{where}: drug_key {key!r} must be lowercase snake_case")
            if key in seen_keys:
                raise ValueError(f"{where}: duplicate drug_key {key!r} (also {seen_keys[key]})")
            seen_keys[key] = where
            klass = _clean(rec.drug_class)
            if klass not in _RANK:
                raise ValueError(
                    f"{where} (drug_key {key!r}): drug_class {klass!r} not in {list(REFERENCE_CLASSES)}"
                )
            flag = rec.hormonal
            if isinstance(flag, (bool, np.bool_)):
                is_hormonal = bool(flag)
            else:
                text = _clean(flag)
                if text not in _TRUE and text not in _FALSE:
                    raise ValueError(f"{where} (drug_key {key!r}): hormonal {flag!r} must be true or false")
                is_hormonal = text in _TRUE
            names = [n.strip() for n in _clean(rec.names, lower=False).split("|")]
            if not any(names):
                raise ValueError(f"{where} (drug_key {key!r}): names is empty")
            for alias in names:
                tokens = tokenize(alias)
                if not alias or not tokens:
                    raise ValueError(f"{where} (drug_key {key!r}): empty alias in names")
                if not any(t.isalpha() for t in tokens):
                    raise ValueError(f"{where} (drug_key {key!r}): alias {alias!r} has no letters")
                if len(tokens) == 1 and tokens[0] in _STOP_ALIASES:
                    raise ValueError(f"{where} (drug_key {key!r}): alias {alias!r} is too generic")
                owner = alias_owner.get(tokens)
                if owner is not None and owner != key:
                    raise ValueError(
                        f"{where} (drug_key {key!r}): alias {alias!r} is already claimed by "
                        f"drug_key {owner!r} ({seen_keys[owner]})"
                    )
                if owner is None:
                    alias_owner[tokens] = key
                    aliases[tokens] = (i, alias.lower())
            keys.append(key)
            classes.append(klass)
            hormonal.append(is_hormonal)

        clean = pd.DataFrame(
            {
                "drug_key": pd.Series(keys, dtype="string"),
                "drug_class": pd.Series(classes, dtype="string"),
                "hormonal": pd.Series(hormonal, dtype=bool),
                "group": table["group"].map(lambda v: _clean(v)).astype("string"),
                "names": table["names"].map(lambda v: _clean(v)).astype("string"),
                "note": table["note"].map(lambda v: _clean(v, lower=False)).astype("string"),
            }
        )

        key_row = {k: i for i, k in enumerate(keys)}
        ndc_rows: dict[str, int] = {}
        ndc_list: list[tuple[str, str]] = []
        if ndc is not None and len(ndc):
            miss = [c for c in NDC_COLUMNS if c not in ndc.columns]
            if miss:
                raise ValueError(f"NDC mapping: missing column(s) {miss}")
            nlabels = list(ndc_sources) if ndc_sources is not None else [f"ndc row {i + 1}" for i in range(len(ndc))]
            seen_ndc: dict[str, str] = {}
            for j, rec in enumerate(ndc.loc[:, list(NDC_COLUMNS)].itertuples(index=False)):
                where = nlabels[j]
                code = _clean(rec.ndc11, lower=False)
                if not re.fullmatch(r"\d{11}", code):
                    raise ValueError(f"{where}: ndc11 {rec.ndc11!r} must be 11 digits")
                key = _clean(rec.drug_key)
                if key not in key_row:
                    raise ValueError(f"{where}: ndc11 {code} names unknown drug_key {key!r}")
                if code in seen_ndc:
                    raise ValueError(f"{where}: duplicate ndc11 {code} (also {seen_ndc[code]})")
                seen_ndc[code] = where
                ndc_rows[code] = key_row[key]
                ndc_list.append((code, key))
        ndc_frame = pd.DataFrame(ndc_list, columns=list(NDC_COLUMNS)).astype("string")

        return cls(
            drugs=clean,
            ndc=ndc_frame,
            _aliases=MappingProxyType(aliases),
            _max_alias_tokens=max((len(t) for t in aliases), default=1),
            _keys=tuple(keys),
            _classes=tuple(classes),
            _hormonal=tuple(hormonal),
            _ndc_rows=MappingProxyType(ndc_rows),
        )

    def alias_table(self) -> pd.DataFrame:
        """Every alias with its normalised token form and its ``drug_key``."""
        rows = [
            (alias, " ".join(tokens), self._keys[row])
            for tokens, (row, alias) in self._aliases.items()
        ]
        return pd.DataFrame(rows, columns=["alias", "normalised", "drug_key"]).astype("string")

    # -- text analysis ------------------------------------------------------
    def _analyse(self, text: str) -> _Analysis:
        """Match one distinct drug string against the alias index."""
        tokens = tokenize(text)
        n = len(tokens)
        matches: list[tuple[int, int, int, str]] = []  # start, end, row, alias
        i = 0
        while i < n:
            hit = None
            for length in range(min(self._max_alias_tokens, n - i), 0, -1):
                found = self._aliases.get(tokens[i : i + length])
                if found is not None:
                    hit = (i, i + length, found[0], found[1])
                    break
            if hit is None:
                i += 1
            else:
                matches.append(hit)
                i = hit[1]

        covered = set()
        for start, end, _, _ in matches:
            covered.update(range(start, end))
        split = next((k for k, t in enumerate(tokens) if t == "in" and k not in covered), n)
        before = [m for m in matches if m[0] < split]

        hydration_named = any(self._classes[m[2]] == "hydration" for m in matches)
        vehicle_named = hydration_named or any(self._classes[m[2]] == "diluent" for m in matches)
        diluent_word = _diluent_wording(tokens)
        carrier_wording = bool(set(tokens) & _CARRIER_TOKENS)

        chosen = None
        if diluent_word is not None:
            dil = [m for m in matches if self._classes[m[2]] == "diluent"]
            pool = dil or before or matches
            chosen = _best(pool, self._classes) if pool else None
        elif before:
            best = _best(before, self._classes)
            if self._classes[best[2]] in ("hydration", "electrolyte"):
                best = _best(matches, self._classes)  # the vehicle may decide
            chosen = best

        return _Analysis(
            row=chosen[2] if chosen else -1,
            matched=chosen[3] if chosen else None,
            hydration_named=hydration_named,
            vehicle_named=vehicle_named,
            volume_ml=_largest_volume(tokens),
            diluent_word=diluent_word,
            carrier_wording=carrier_wording,
        )


def _diluent_wording(tokens: tuple[str, ...]) -> str | None:
    """The flush / KVO / TKO / keep-vein-open / lock word of the text, if any.

    ``luer lock`` describes a syringe tip, not a use, and is ignored.
    """
    for i, t in enumerate(tokens):
        if t in _DILUENT_TOKENS and not (t in ("lock", "locks") and i and tokens[i - 1] == "luer"):
            return t
    for phrase in _DILUENT_PHRASES:
        k = len(phrase)
        if any(tokens[i : i + k] == phrase for i in range(len(tokens) - k + 1)):
            return " ".join(phrase)
    return None


def _best(pool: list[tuple[int, int, int, str]], classes: tuple[str, ...]) -> tuple[int, int, int, str]:
    """Highest-ranked class first, then the earliest position."""
    return min(pool, key=lambda m: (-_RANK[classes[m[2]]], m[0]))


def _largest_volume(tokens: tuple[str, ...]) -> float | None:
    """Largest ``<number> mL`` / ``<number> L`` in the tokens, rates excluded."""
    best: float | None = None
    for i in range(len(tokens) - 1):
        unit = _VOLUME_UNITS.get(tokens[i + 1])
        if unit is None or not _NUMBER_RE.match(tokens[i]):
            continue
        nxt = tokens[i + 2] if i + 2 < len(tokens) else ""
        nxt2 = tokens[i + 3] if i + 3 < len(tokens) else ""
        if nxt in _RATE_WORDS or (nxt == "per" and nxt2 in _RATE_WORDS):
            continue  # 125 mL/h is a rate, not a bag
        value = float(tokens[i]) * unit
        best = value if best is None else max(best, value)
    return best


def _clean(value: object, *, lower: bool = True) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    text = str(value).strip()
    return text.lower() if lower else text


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    return frame.loc[:, list(columns)]


def load_drug_reference(
    directory: Path | None = None,
    extra: Path | None = None,
    *,
    ndc: Path | None = None,
) -> DrugReference:
    """Load and validate the drug reference.

    Reads ``directory/drugs.csv`` and, when present, ``directory/ndc_sample.csv``.
    ``extra`` is a user's CSV in the ``drugs.csv`` format: a row whose
    ``drug_key`` exists replaces the shipped row in place, a new key is
    appended. ``ndc`` is a user's NDC CSV (``ndc11,drug_key``) whose rows
    replace sample rows with the same ``ndc11`` and may name keys from
    ``extra``.

    Args:
        directory: folder with ``drugs.csv``; defaults to :data:`REFERENCE_DIR`.
        extra: optional user drug rows that override/extend the shipped ones.
        ndc: optional user NDC mapping (e.g. exported from the pharmacy system).

    Returns:
        The validated, compiled :class:`DrugReference`.

    Raises:
        ValueError: a file is missing or malformed, or a row breaks an
            invariant of :meth:`DrugReference.from_frames`; the message names
            the file and the 1-based data row.
    """
    folder = Path(directory) if directory is not None else REFERENCE_DIR
    base_path = folder / "drugs.csv"
    base = _read_csv(base_path, DRUG_COLUMNS)
    labels = [f"{base_path.name} row {i + 1}" for i in range(len(base))]
    if extra is not None:
        extra_path = Path(extra)
        user = _read_csv(extra_path, DRUG_COLUMNS)
        position = {_clean(k): i for i, k in enumerate(base["drug_key"])}
        rows = base.to_dict("records")
        seen: dict[str, int] = {}
        for j, rec in enumerate(user.to_dict("records")):
            where = f"{extra_path.name} row {j + 1}"
            key = _clean(rec["drug_key"])
            if key in seen:
                raise ValueError(f"{where}: duplicate drug_key {key!r} (also row {seen[key]})")
            seen[key] = j + 1
            if key in position:
                rows[position[key]] = rec
                labels[position[key]] = where
            else:
                position[key] = len(rows)
                rows.append(rec)
                labels.append(where)
        base = pd.DataFrame(rows, columns=list(DRUG_COLUMNS))

    ndc_frames: list[pd.DataFrame] = []
    ndc_labels: list[str] = []
    sample = folder / "ndc_sample.csv"
    for path in [p for p in (sample if sample.is_file() else None, Path(ndc) if ndc else None) if p]:
        frame = _read_csv(path, NDC_COLUMNS)
        frame = frame.assign(ndc11=frame["ndc11"].str.strip())
        ndc_frames.append(frame)
        ndc_labels.extend(f"{path.name} row {i + 1}" for i in range(len(frame)))
    if ndc_frames:
        mapping = pd.concat(ndc_frames, ignore_index=True)
        mapping["_label"] = ndc_labels
        mapping = mapping.drop_duplicates("ndc11", keep="last")  # user file wins
        ndc_labels = mapping.pop("_label").tolist()
    else:
        mapping = pd.DataFrame(columns=list(NDC_COLUMNS))
    return DrugReference.from_frames(base, mapping, sources=labels, ndc_sources=ndc_labels)


def normalise_ndc(values: pd.Series) -> pd.Series:
    """Normalise NDCs to the 11-digit 5-4-2 form, vectorised.

    Accepts 11 digits (with or without 5-4-2 dashes) and the 10-digit dashed
    forms 4-4-2, 5-3-2 and 5-4-1, zero-padding the short segment. A numeric
    column (leading zeros lost by a spreadsheet) is zero-filled to 11 digits.
    Anything else, including 10 digits without dashes (ambiguous), is ``<NA>``.

    Args:
        values: NDCs as charted.

    Returns:
        ``string`` Series aligned with ``values``.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = pd.to_numeric(values, errors="coerce")
        whole = num.notna() & (num >= 0) & (num < 1e11) & (num == np.floor(num.fillna(0)))
        out = pd.Series(pd.NA, index=values.index, dtype="string")
        out[whole] = num[whole].astype("int64").astype(str).str.zfill(11)
        return out
    text = values.astype("string").str.strip()
    out = pd.Series(pd.NA, index=values.index, dtype="string")
    plain = text.str.fullmatch(r"\d{11}").fillna(False).astype(bool)
    out[plain] = text[plain]
    parts = text.str.extract(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")
    lens = parts.apply(lambda c: c.str.len()).fillna(0).astype(int)
    shape = lens[0].astype(str) + "-" + lens[1].astype(str) + "-" + lens[2].astype(str)
    ok = shape.isin(["5-4-2", "4-4-2", "5-3-2", "5-4-1"]) & ~plain
    if ok.any():
        out[ok] = parts.loc[ok, 0].str.zfill(5) + parts.loc[ok, 1].str.zfill(4) + parts.loc[ok, 2].str.zfill(2)
    return out


def _aligned(series: pd.Series | None, index: pd.Index, name: str) -> pd.Series | None:
    """``series`` on ``index``: as is when the index is equal, else by label."""
    if series is None:
        return None
    if not isinstance(series, pd.Series):
        raise TypeError(f"{name} must be a pandas Series aligned with drug")
    if series.index.equals(index):
        return series
    if not index.is_unique or not series.index.is_unique:
        raise ValueError(f"{name}: index differs from drug.index and cannot be aligned by label")
    return series.reindex(index)


def _override_values(override: pd.Series) -> pd.Series:
    text = override.astype("string").str.strip().str.lower()
    text = text.mask(text == "")
    bad = text.notna() & ~text.isin(OVERRIDE_CLASSES)
    if bad.any():
        values = sorted(set(text[bad].dropna()))
        raise ValueError(
            f"override drug_class value(s) {values} not in {list(OVERRIDE_CLASSES)}; "
            "quarantine these rows before classifying"
        )
    return text


def classify_drugs(
    drug: pd.Series,
    reference: DrugReference,
    *,
    ndc: pd.Series | None = None,
    override: pd.Series | None = None,
    rate_ml_h: pd.Series | None = None,
    electrolyte_in_fluid: str = "hydration",
    kvo_max_rate_ml_h: float = 30.0,
) -> pd.DataFrame:
    """Classify MAR drug entries.

    Invariants of the result: same index (and order) as ``drug``; one row per
    input row; ``drug_class`` in :data:`OUTPUT_CLASSES` (never
    ``electrolyte``); ``class_source`` in :data:`CLASS_SOURCES`;
    ``class_source == "unknown"`` exactly when ``drug_class == "unknown"``;
    ``hormonal`` is True only for ``chemo``; equal inputs give equal outputs.

    Precedence: a non-null ``override`` wins (``class_source="override"``,
    ``drug_key`` still from the NDC or the text); else an NDC found in the
    mapping (``"ndc"``); else the text (``"name"``). Flush/KVO/lock wording
    in the text makes any non-override result ``diluent``, because it
    describes how the product was used. An electrolyte is resolved by the
    volume rule of the module docstring. A ``hydration`` result (not an
    override) with a known rate <= ``kvo_max_rate_ml_h`` becomes ``diluent``
    with ``class_source="kvo_rate"``.

    Args:
        drug: drug text as charted (``<NA>`` allowed).
        reference: from :func:`load_drug_reference`.
        ndc: optional NDCs, any form :func:`normalise_ndc` accepts.
        override: optional MAR ``drug_class`` values (chemo, therapeutic,
            hydration, diluent; blank = none).
        rate_ml_h: optional infusion rate in mL/h.
        electrolyte_in_fluid: ``"hydration"`` or ``"therapeutic"``: the class
            of an electrolyte added to a large-volume fluid (D21).
        kvo_max_rate_ml_h: plain fluid at or below this rate is keep-vein-open.

    Returns:
        DataFrame with :data:`RESULT_COLUMNS`: ``drug_key`` (string),
        ``drug_class`` (string), ``hormonal`` (bool), ``matched`` (string,
        the alias that decided), ``class_source`` (string).

    Raises:
        ValueError: an unknown policy value, a negative KVO rate, an override
            value outside :data:`OVERRIDE_CLASSES`, or misaligned inputs.
    """
    if electrolyte_in_fluid not in ("hydration", "therapeutic"):
        raise ValueError(f"electrolyte_in_fluid={electrolyte_in_fluid!r}: expected 'hydration' or 'therapeutic'")
    if not kvo_max_rate_ml_h >= 0:
        raise ValueError("kvo_max_rate_ml_h must be >= 0")
    index = drug.index
    n = len(drug)
    ndc = _aligned(ndc, index, "ndc")
    override = _aligned(override, index, "override")
    rate_ml_h = _aligned(rate_ml_h, index, "rate_ml_h")

    # Factorize the raw columns, normalise only their distinct values, then
    # combine the codes: every later step works on distinct combinations.
    t_codes, t_uniques = pd.factorize(drug)
    codes = t_codes.astype(np.int64) + 1
    n_codes = np.full(n, -1, dtype=np.int64)
    n_uniques: pd.Index | pd.Series = pd.Index([])
    if ndc is not None:
        raw_codes, raw_uniques = pd.factorize(ndc)
        norm_codes, n_uniques = pd.factorize(normalise_ndc(pd.Series(raw_uniques)))
        if len(raw_uniques):
            n_codes = np.where(raw_codes >= 0, norm_codes[np.maximum(raw_codes, 0)], -1).astype(np.int64)
        codes = pd.factorize(codes * (len(n_uniques) + 1) + n_codes + 1)[0].astype(np.int64)
    o_codes = np.full(n, -1, dtype=np.int64)
    o_uniques: pd.Index | pd.Series = pd.Index([])
    if override is not None:
        raw_codes, raw_uniques = pd.factorize(override)
        norm_codes, o_uniques = pd.factorize(_override_values(pd.Series(raw_uniques, dtype=object)))
        if len(raw_uniques):
            o_codes = np.where(raw_codes >= 0, norm_codes[np.maximum(raw_codes, 0)], -1).astype(np.int64)
        codes = pd.factorize(codes * (len(o_uniques) + 1) + o_codes + 1)[0].astype(np.int64)
    kvo = np.zeros(n, dtype=bool)
    if rate_ml_h is not None:
        rate = pd.to_numeric(rate_ml_h, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        kvo = ~np.isnan(rate) & (rate <= kvo_max_rate_ml_h)
    combo, _ = pd.factorize(codes * 2 + kvo)
    _, first = np.unique(combo, return_index=True)  # first row of each combination
    k = len(first)

    analyses = [reference._analyse(str(t)) for t in t_uniques]
    no_text = _Analysis(-1, None, False, False, None, None, False)
    out_key: list[str | None] = []
    out_class: list[str] = []
    out_hormonal: list[bool] = []
    out_matched: list[str | None] = []
    out_source: list[str] = []
    for pos in first:
        a = analyses[t_codes[pos]] if t_codes[pos] >= 0 else no_text
        ndc_row = reference._ndc_rows.get(n_uniques[n_codes[pos]], -1) if n_codes[pos] >= 0 else -1
        ov = o_uniques[o_codes[pos]] if o_codes[pos] >= 0 else None
        row = ndc_row if ndc_row >= 0 else a.row
        matched = a.matched
        if ov is not None:
            klass, source = str(ov), "override"
        elif row < 0:
            if a.diluent_word is not None:
                klass, source, matched = "diluent", "name", a.diluent_word
            else:
                klass, source = "unknown", "unknown"
        else:
            source = "ndc" if ndc_row >= 0 else "name"
            klass = reference._classes[row]
            if a.diluent_word is not None:
                klass = "diluent"
            elif klass == "electrolyte":
                klass = electrolyte_in_fluid if _in_large_fluid(a) else "therapeutic"
            if klass == "hydration" and a.carrier_wording:
                klass = "diluent"
            if klass == "hydration" and kvo[pos]:
                klass, source = "diluent", "kvo_rate"
        out_key.append(reference._keys[row] if row >= 0 else None)
        out_class.append(klass)
        out_hormonal.append(bool(row >= 0 and reference._hormonal[row] and klass == "chemo"))
        out_matched.append(matched)
        out_source.append(source)

    def spread(values: list, dtype: str | type) -> pd.api.extensions.ExtensionArray | np.ndarray:
        arr = np.asarray(values, dtype=object)[combo] if k else np.asarray([], dtype=object)
        return np.asarray(arr, dtype=bool) if dtype is bool else pd.array(arr, dtype=dtype)

    return pd.DataFrame(
        {
            "drug_key": spread(out_key, "string"),
            "drug_class": spread(out_class, "string"),
            "hormonal": spread(out_hormonal, bool),
            "matched": spread(out_matched, "string"),
            "class_source": spread(out_source, "string"),
        },
        index=index,
    )


def _in_large_fluid(a: _Analysis) -> bool:
    """Electrolyte rule (R-D6 / R-G1): is the vehicle a large-volume fluid?"""
    if a.hydration_named:
        return a.volume_ml is None or a.volume_ml >= LARGE_VOLUME_ML
    if a.vehicle_named:  # water or another diluent: a drug rider, not a fluid
        return False
    return a.volume_ml is not None and a.volume_ml >= LARGE_VOLUME_ML
