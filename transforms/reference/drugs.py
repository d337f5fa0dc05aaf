"""Drug knowledge: the reference table and a vectorised drug classifier.

The audit needs to know, for every MAR row, what kind of substance was given,
because the code family depends on it: chemotherapy / complex drugs
(96401-96549), other therapeutic drugs (96365-96379), hydration (96360/96361),
and things that are never a drug-administration service (diluents, flushes,
keep-vein-open fluid, blood products, nutrition, contrast...).

Reference
    ``transforms/reference/tables/drugs.csv`` has one row per canonical drug (``drug_key``)
    with its reference class (``chemo``, ``therapeutic``, ``hydration``,
    ``electrolyte``, ``diluent``, ``not_reportable``: ``REFERENCE_CLASSES``
    of :mod:`transforms.vocab.classes`), a ``hormonal`` flag and the
    pipe-separated aliases (``names``) it is charted as, and optionally
    (column ``rxnorm``) the pipe-separated RxNorm concept ids (RxCUIs) that
    mean it; the shipped table carries none. Users may add or replace rows
    with their own CSV (``extra``) and load their licensed NDC mapping
    (``ndc``). :func:`load_drug_reference` validates everything once and
    compiles an alias index.

Matching
    Drug text is tokenised and matched against the aliases as described in
    :mod:`transforms.reference.drug_names` (whole words, longest alias first,
    the drug before a free-standing ``in`` beats its vehicle). NDCs are read
    with :func:`transforms.reference.ndc.normalise_ndc` and RxCUIs with
    :func:`normalise_rxcui`. A string with flush / KVO / TKO /
    keep-vein-open / lock wording is ``diluent`` whatever else it names;
    ``carrier`` / ``diluent`` wording turns a plain fluid into ``diluent``.

Electrolytes
    ``electrolyte`` is never an output class. An electrolyte in a large-volume
    fluid (a hydration fluid named with >= 250 mL or with no volume, or an
    unnamed vehicle of >= 250 mL) takes the policy ``electrolyte_in_fluid``
    (``hydration`` by default, R-G1; ``therapeutic`` per D21); alone, in a
    small rider (< 250 mL) or in water it is ``therapeutic`` (R-D6).

Precedence per row: the MAR's own ``drug_class`` override, then the NDC
mapping, then the RxNorm codes, then the text; a row found by a code follows
the same class rules as one found by its text. A plain-fluid result whose
rate is known and at or below ``kvo_max_rate_ml_h`` is ``diluent``
(keep-vein-open, R-G3). Nothing matched is ``unknown``: the classifier never
guesses.

Everything here is pure pandas/numpy/stdlib and deterministic; each distinct
(text, NDC, RxCUI, override, KVO-rate) combination is classified once and mapped back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from transforms.reference import tables_dir
from transforms.reference.drug_names import (
    NO_TEXT,
    AliasIndex,
    TextAnalysis,
    Tokens,
    alias_problem,
    tokenize,
)
from transforms.reference.ndc import NDC11_PATTERN, normalise_ndc
from transforms.vocab import schemas
from transforms.vocab.classes import (
    CHEMO,
    CLASS_RANK,
    DILUENT,
    ELECTROLYTE,
    HYDRATION,
    REFERENCE_CLASSES,
    THERAPEUTIC,
    UNKNOWN,
)

__all__ = [
    "CLASS_SOURCES", "DRUG_COLUMNS", "LARGE_VOLUME_ML", "NDC_COLUMNS", "REFERENCE_DIR",
    "RESULT_COLUMNS", "RXNORM_COLUMN", "RXNORM_COLUMNS", "DrugReference", "classify_drugs",
    "load_drug_reference", "normalise_ndc", "normalise_rxcui", "tokenize",
]  # fmt: skip

REFERENCE_DIR: Path = tables_dir()
"""Folder of the shipped ``drugs.csv`` and ``ndc_sample.csv``."""

DRUG_COLUMNS: tuple[str, ...] = ("drug_key", "drug_class", "hormonal", "group", "names", "note")
NDC_COLUMNS: tuple[str, ...] = ("ndc11", "drug_key")
#: The optional ``drugs.csv`` column of pipe-separated RxCUIs.
RXNORM_COLUMN: str = "rxnorm"
#: Columns of :attr:`DrugReference.rxnorm` (one row per RxCUI).
RXNORM_COLUMNS: tuple[str, ...] = ("rxcui", "drug_key")
CLASS_SOURCES: tuple[str, ...] = ("override", "ndc", "rxnorm", "name", "kvo_rate", "unknown")
RESULT_COLUMNS: tuple[str, ...] = ("drug_key", "drug_class", "hormonal", "matched", "class_source")

#: Vehicle volume (mL) from which an electrolyte counts as added to a fluid.
LARGE_VOLUME_ML: float = 250.0

# The MAR drug_class override values are the contract's (schemas.DRUG_CLASSES);
# ordered highest class first so error messages read the same every run.
_OVERRIDE_ORDER: tuple[str, ...] = tuple(
    sorted(schemas.DRUG_CLASSES, key=lambda c: (-CLASS_RANK.get(c, -99), c))
)
_KEY_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_RXCUI_RE = re.compile(r"[0-9]+")
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0", ""})


# --------------------------------------------------------------------------
# The reference
# --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DrugReference:
    """The validated drug table, the NDC and RxNorm mappings and the compiled alias index.

    Build it with :func:`load_drug_reference` (from CSV files) or
    :meth:`from_frames`; never mutate it. Invariants: ``drug_key`` is unique;
    every class is in ``REFERENCE_CLASSES``; every alias, once tokenized,
    belongs to exactly one key; every NDC is 11 digits and points at a key;
    every RxCUI is digits with no leading zero and belongs to exactly one key.

    Attributes:
        drugs: the drug rows, columns :data:`DRUG_COLUMNS`, ``hormonal`` bool.
        ndc: columns ``ndc11`` (11-digit string, unique) and ``drug_key``.
        rxnorm: columns :data:`RXNORM_COLUMNS`: ``rxcui`` (unique) and
            ``drug_key``, from the optional ``rxnorm`` column of the drug rows
            (empty when no row has one).
    """

    drugs: pd.DataFrame
    ndc: pd.DataFrame
    rxnorm: pd.DataFrame
    _index: AliasIndex = field(repr=False)
    _keys: tuple[str, ...] = field(repr=False)
    _hormonal: tuple[bool, ...] = field(repr=False)
    _ndc_rows: Mapping[str, int] = field(repr=False)
    _rxnorm_rows: Mapping[str, int] = field(repr=False)

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
            drugs: rows in the ``drugs.csv`` format (strings or bools),
                optionally with an ``rxnorm`` column.
            ndc: rows with ``ndc11`` and ``drug_key``; ``None`` for no NDCs.
            sources: a label per drug row used in error messages
                (default ``"drugs row N"``).
            ndc_sources: a label per NDC row used in error messages.

        Raises:
            ValueError: a missing column, an empty or malformed key, a
                duplicate key, a class outside the vocabulary, a bad hormonal
                flag, an empty or too generic alias, an alias claimed by two
                keys, a malformed or duplicate NDC, an NDC naming an
                unknown key, an RxCUI that is not digits, or an RxCUI claimed
                by two keys. The message names the offending row.
        """
        table, rows = _validate_drugs(drugs, sources)
        ndc_rows, ndc_frame = _ndc_mapping(ndc, ndc_sources, {k: i for i, k in enumerate(rows.keys)})
        index = AliasIndex(MappingProxyType(rows.aliases), tuple(rows.classes))
        return cls(drugs=_drug_frame(table, rows), ndc=ndc_frame, rxnorm=rows.rxnorm_frame(), _index=index,
                   _keys=tuple(rows.keys), _hormonal=tuple(rows.hormonal), _ndc_rows=MappingProxyType(ndc_rows),
                   _rxnorm_rows=MappingProxyType(dict(rows.rxcuis)))


@dataclass
class _DrugRows:
    """Drug rows validated one by one, with the alias index they compile to.

    Row ``i`` of ``keys`` / ``classes`` / ``hormonal`` is row ``i`` of the
    input table; ``aliases`` maps an alias's tokens to ``(i, alias)`` of the
    first row that names it; ``rxcuis`` maps an RxCUI to the row ``i`` that
    names it (one row only).
    """

    keys: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    hormonal: list[bool] = field(default_factory=list)
    aliases: dict[Tokens, tuple[int, str]] = field(default_factory=dict)
    rxcuis: dict[str, int] = field(default_factory=dict)
    _where: dict[str, str] = field(default_factory=dict)  # drug_key -> its row label
    _owner: dict[Tokens, str] = field(default_factory=dict)  # alias tokens -> drug_key

    def add(self, rec: tuple, where: str) -> None:
        """Validate one ``drugs.csv`` row (a namedtuple); ``where`` labels errors."""
        key = _clean(rec.drug_key)
        if not _KEY_RE.match(key):
            raise ValueError(f"{where}: drug_key {key!r} must be lowercase snake_case")
        if key in self._where:
            raise ValueError(f"{where}: duplicate drug_key {key!r} (also {self._where[key]})")
        self._where[key] = where
        klass = _clean(rec.drug_class)
        if klass not in REFERENCE_CLASSES:
            raise ValueError(f"{where} (drug_key {key!r}): drug_class {klass!r} not in {list(REFERENCE_CLASSES)}")
        is_hormonal = _hormonal_flag(rec.hormonal, f"{where} (drug_key {key!r})")
        self._add_aliases(rec.names, len(self.keys), key, where)
        self._add_rxcuis(getattr(rec, RXNORM_COLUMN, None), len(self.keys), key, where)
        self.keys.append(key)
        self.classes.append(klass)
        self.hormonal.append(is_hormonal)

    def _add_aliases(self, names: object, row: int, key: str, where: str) -> None:
        """Register the pipe-separated aliases of reference row ``row``."""
        aliases = [n.strip() for n in _clean(names, lower=False).split("|")]
        if not any(aliases):
            raise ValueError(f"{where} (drug_key {key!r}): names is empty")
        for alias in aliases:
            tokens = tokenize(alias)
            problem = alias_problem(alias, tokens)
            if problem is not None:
                raise ValueError(f"{where} (drug_key {key!r}): {problem}")
            owner = self._owner.get(tokens)
            if owner is not None and owner != key:
                raise ValueError(
                    f"{where} (drug_key {key!r}): alias {alias!r} is already claimed by "
                    f"drug_key {owner!r} ({self._where[owner]})"
                )
            if owner is None:  # a row repeating its own alias keeps the first spelling
                self._owner[tokens] = key
                self.aliases[tokens] = (row, alias.lower())

    def _add_rxcuis(self, codes: object, row: int, key: str, where: str) -> None:
        """Register the pipe-separated RxCUIs of reference row ``row`` (blank = none)."""
        text = _clean(codes, lower=False)
        for code in (c.strip() for c in text.split("|")) if text else ():
            if not _RXCUI_RE.fullmatch(code) or not code.strip("0"):
                raise ValueError(f"{where} (drug_key {key!r}): rxnorm code {code!r} must be an RxCUI (digits only)")
            code = code.lstrip("0")  # the same canonical form as a charted RxCUI (normalise_rxcui)
            owner = self.rxcuis.get(code, row)
            if owner != row:
                raise ValueError(
                    f"{where} (drug_key {key!r}): rxnorm code {code} is already claimed by "
                    f"drug_key {self.keys[owner]!r} ({self._where[self.keys[owner]]})"
                )
            self.rxcuis[code] = row

    def rxnorm_frame(self) -> pd.DataFrame:
        """The public ``rxnorm`` frame: one row per RxCUI, in first-named order."""
        pairs = [(code, self.keys[row]) for code, row in self.rxcuis.items()]
        return pd.DataFrame(pairs, columns=list(RXNORM_COLUMNS)).astype("string")


def _validate_drugs(drugs: pd.DataFrame, sources: Iterable[str] | None) -> tuple[pd.DataFrame, _DrugRows]:
    """The drug columns of ``drugs`` and their validated rows (see :meth:`DrugReference.from_frames`)."""
    columns = DRUG_COLUMNS + ((RXNORM_COLUMN,) if RXNORM_COLUMN in drugs.columns else ())
    table = _select(drugs, columns, "drug reference").reset_index(drop=True)
    labels = list(sources) if sources is not None else [f"drugs row {i + 1}" for i in range(len(table))]
    if len(labels) != len(table):
        raise ValueError("drug reference: one source label per row is required")
    rows = _DrugRows()
    for where, rec in zip(labels, table.itertuples(index=False), strict=True):
        rows.add(rec, where)
    return table, rows


def _drug_frame(table: pd.DataFrame, rows: _DrugRows) -> pd.DataFrame:
    """The public ``drugs`` frame: validated key/class/flag, trimmed text columns."""
    return pd.DataFrame(
        {
            "drug_key": pd.Series(rows.keys, dtype="string"),
            "drug_class": pd.Series(rows.classes, dtype="string"),
            "hormonal": pd.Series(rows.hormonal, dtype=bool),
            "group": table["group"].map(lambda v: _clean(v)).astype("string"),
            "names": table["names"].map(lambda v: _clean(v)).astype("string"),
            "note": table["note"].map(lambda v: _clean(v, lower=False)).astype("string"),
        }
    )


def _hormonal_flag(flag: object, where: str) -> bool:
    """A bool, or true/false text (t/f, yes/no, y/n, 1/0; blank = false)."""
    if isinstance(flag, (bool, np.bool_)):
        return bool(flag)
    text = _clean(flag)
    if text not in _TRUE and text not in _FALSE:
        raise ValueError(f"{where}: hormonal {flag!r} must be true or false")
    return text in _TRUE


def _ndc_mapping(
    ndc: pd.DataFrame | None, sources: Iterable[str] | None, key_row: Mapping[str, int]
) -> tuple[dict[str, int], pd.DataFrame]:
    """Validate the NDC rows: ``(ndc11 -> reference row, ndc frame)``.

    ``key_row`` maps every valid ``drug_key`` to its reference row. An NDC
    here must already be in the 11-digit form (the key of
    :func:`normalise_ndc`); only charted NDCs are normalised.
    """
    ndc_rows: dict[str, int] = {}
    pairs: list[tuple[str, str]] = []
    if ndc is not None and len(ndc):
        table = _select(ndc, NDC_COLUMNS, "NDC mapping")
        labels = list(sources) if sources is not None else [f"ndc row {i + 1}" for i in range(len(ndc))]
        seen: dict[str, str] = {}
        for j, rec in enumerate(table.itertuples(index=False)):
            where = labels[j]
            code = _clean(rec.ndc11, lower=False)
            if not re.fullmatch(NDC11_PATTERN, code):
                raise ValueError(f"{where}: ndc11 {rec.ndc11!r} must be 11 digits")
            key = _clean(rec.drug_key)
            if key not in key_row:
                raise ValueError(f"{where}: ndc11 {code} names unknown drug_key {key!r}")
            if code in seen:
                raise ValueError(f"{where}: duplicate ndc11 {code} (also {seen[code]})")
            seen[code] = where
            ndc_rows[code] = key_row[key]
            pairs.append((code, key))
    return ndc_rows, pd.DataFrame(pairs, columns=list(NDC_COLUMNS)).astype("string")


def _select(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """``frame[columns]``, or a ValueError naming ``what`` and the missing ones."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}")
    return frame.loc[:, list(columns)]


def _clean(value: object, *, lower: bool = True) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    text = str(value).strip()
    return text.lower() if lower else text


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------
def _read_csv(path: Path, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """``columns`` of the CSV at ``path`` (all text), then those of ``optional`` it has."""
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return _select(frame, columns + tuple(c for c in optional if c in frame.columns), str(path))


def load_drug_reference(
    directory: Path | None = None,
    extra: Path | None = None,
    *,
    ndc: Path | None = None,
) -> DrugReference:
    """Load and validate the drug reference.

    Reads ``directory/drugs.csv`` and, when present, ``directory/ndc_sample.csv``.
    ``extra`` is a user's CSV in the ``drugs.csv`` format: a row whose
    ``drug_key`` exists replaces the shipped row in place (its ``rxnorm``
    codes too), a new key is appended. Either file may have the optional
    ``rxnorm`` column; a row without it has no RxCUIs. ``ndc`` is a user's
    NDC CSV (``ndc11,drug_key``) whose rows replace sample rows with the same
    ``ndc11`` and may name keys from ``extra``.

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
    base = _read_csv(base_path, DRUG_COLUMNS, (RXNORM_COLUMN,))
    labels = [f"{base_path.name} row {i + 1}" for i in range(len(base))]
    if extra is not None:
        base, labels = _merge_extra(base, labels, Path(extra))
    mapping, ndc_labels = _read_ndc_files(folder / "ndc_sample.csv", Path(ndc) if ndc else None)
    return DrugReference.from_frames(base, mapping, sources=labels, ndc_sources=ndc_labels)


def _merge_extra(base: pd.DataFrame, labels: list[str], path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The shipped rows with a user's rows: same key replaces in place, new key appends.

    Returns the merged rows and one error-message label per row (the user
    file's label for a replaced or added row).
    """
    user = _read_csv(path, DRUG_COLUMNS, (RXNORM_COLUMN,))
    position = {_clean(k): i for i, k in enumerate(base["drug_key"])}
    rows = base.to_dict("records")
    labels = list(labels)
    seen: dict[str, int] = {}
    for j, rec in enumerate(user.to_dict("records")):
        where = f"{path.name} row {j + 1}"
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
    # the optional column only when one file has it, so a list without it loads as before
    optional = [RXNORM_COLUMN] if RXNORM_COLUMN in base.columns or RXNORM_COLUMN in user.columns else []
    return pd.DataFrame(rows, columns=list(DRUG_COLUMNS) + optional), labels


def _read_ndc_files(sample: Path, user: Path | None) -> tuple[pd.DataFrame, list[str]]:
    """The shipped sample NDC mapping (if the file exists) then the user's.

    A user row replaces a sample row with the same ``ndc11``. Returns the
    rows and one error-message label per row.
    """
    frames: list[pd.DataFrame] = []
    labels: list[str] = []
    for path in [p for p in (sample if sample.is_file() else None, user) if p]:
        frame = _read_csv(path, NDC_COLUMNS)
        frames.append(frame.assign(ndc11=frame["ndc11"].str.strip()))
        labels.extend(f"{path.name} row {i + 1}" for i in range(len(frame)))
    if not frames:
        return pd.DataFrame(columns=list(NDC_COLUMNS)), labels
    mapping = pd.concat(frames, ignore_index=True)
    mapping["_label"] = labels
    mapping = mapping.drop_duplicates("ndc11", keep="last")  # user file wins
    labels = mapping.pop("_label").tolist()
    return mapping, labels


# --------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------
def classify_drugs(
    drug: pd.Series,
    reference: DrugReference,
    *,
    ndc: pd.Series | None = None,
    rxnorm: pd.Series | None = None,
    override: pd.Series | None = None,
    rate_ml_h: pd.Series | None = None,
    electrolyte_in_fluid: str = "hydration",
    kvo_max_rate_ml_h: float = 30.0,
) -> pd.DataFrame:
    """Classify MAR drug entries.

    Invariants of the result: same index (and order) as ``drug``; one row per
    input row; ``drug_class`` in ``OUTPUT_CLASSES`` (never ``electrolyte``);
    ``class_source`` in :data:`CLASS_SOURCES`, ``"unknown"`` exactly when
    ``drug_class == "unknown"``; ``hormonal`` is True only for ``chemo``;
    equal inputs give equal outputs.

    Precedence: a non-null ``override`` wins (``class_source="override"``,
    ``drug_key`` still from the codes or the text); else an NDC found in the
    mapping (``"ndc"``); else an RxCUI of the reference (``"rxnorm"``); else
    the text (``"name"``). A code match follows the text's rules: flush/KVO/
    lock wording in the text makes any non-override result ``diluent``,
    because it describes how the product was used. An electrolyte is
    resolved by the volume rule of the module docstring. A ``hydration``
    result (not an override) with a known rate <= ``kvo_max_rate_ml_h``
    becomes ``diluent`` with ``class_source="kvo_rate"``.

    Args:
        drug: drug text as charted (``<NA>`` allowed).
        reference: from :func:`load_drug_reference`.
        ndc: optional NDCs, read by :func:`normalise_ndc`; a value that is
            not an NDC by its rule is ignored (as if missing).
        rxnorm: optional RxCUIs, read by :func:`normalise_rxcui` (likewise).
        override: optional MAR ``drug_class`` values (``schemas.DRUG_CLASSES``:
            chemo, therapeutic, hydration, diluent; blank = none).
        rate_ml_h: optional infusion rate in mL/h.
        electrolyte_in_fluid: ``"hydration"`` or ``"therapeutic"``: the class
            of an electrolyte added to a large-volume fluid (D21).
        kvo_max_rate_ml_h: plain fluid at or below this rate (mL/h) is
            keep-vein-open.

    Returns:
        DataFrame with :data:`RESULT_COLUMNS`: ``drug_key`` (string),
        ``drug_class`` (string), ``hormonal`` (bool), ``matched`` (string,
        the alias that decided), ``class_source`` (string).

    Raises:
        ValueError: an unknown policy value, a negative KVO rate, an override
            value outside ``schemas.DRUG_CLASSES``, or misaligned inputs.
    """
    _check_policy(electrolyte_in_fluid, kvo_max_rate_ml_h)
    columns = {"ndc": ndc, "rxnorm": rxnorm, "override": override, "rate_ml_h": rate_ml_h}
    aligned = {name: _aligned(values, drug.index, name) for name, values in columns.items()}
    distinct = _Distinct.of(drug, **aligned, kvo_max_rate_ml_h=kvo_max_rate_ml_h)
    results = _resolve_distinct(distinct, reference, electrolyte_in_fluid)
    return _spread(results, distinct.combo, drug.index)


def _check_policy(electrolyte_in_fluid: str, kvo_max_rate_ml_h: float) -> None:
    if electrolyte_in_fluid not in (HYDRATION, THERAPEUTIC):
        raise ValueError(f"electrolyte_in_fluid={electrolyte_in_fluid!r}: expected 'hydration' or 'therapeutic'")
    if not kvo_max_rate_ml_h >= 0:  # also rejects NaN
        raise ValueError("kvo_max_rate_ml_h must be >= 0")


@dataclass(frozen=True)
class _Distinct:
    """The distinct input combinations of a classification.

    Every ``*_codes`` array has one entry per input row: the position of the
    row's normalised value in the matching uniques, ``-1`` when missing.
    ``combo`` numbers the distinct (text, NDC, RxCUI, override, KVO) combinations
    per row; ``first`` is the first row of each combination, in combo order.
    """

    text_codes: np.ndarray
    texts: pd.Index
    ndc_codes: np.ndarray
    ndcs: pd.Index
    rxnorm_codes: np.ndarray
    rxnorms: pd.Index
    override_codes: np.ndarray
    overrides: pd.Index
    kvo: np.ndarray
    combo: np.ndarray
    first: np.ndarray

    @classmethod
    def of(
        cls,
        drug: pd.Series,
        ndc: pd.Series | None,
        rxnorm: pd.Series | None,
        override: pd.Series | None,
        rate_ml_h: pd.Series | None,
        *,
        kvo_max_rate_ml_h: float,
    ) -> "_Distinct":
        # Factorize the raw columns, normalise only their distinct values, then
        # combine the codes: every later step works on distinct combinations.
        n = len(drug)
        text_codes, texts = pd.factorize(drug)
        codes = text_codes.astype(np.int64) + 1
        ndc_codes, ndcs = _normalised_codes(ndc, n, lambda u: normalise_ndc(pd.Series(u)))
        rxnorm_codes, rxnorms = _normalised_codes(rxnorm, n, lambda u: normalise_rxcui(pd.Series(u)))
        override_codes, overrides = _normalised_codes(
            override, n, lambda u: _override_values(pd.Series(u, dtype=object))
        )
        for values, part, uniques in ((ndc, ndc_codes, ndcs), (rxnorm, rxnorm_codes, rxnorms),
                                      (override, override_codes, overrides)):
            if values is not None:  # an absent input leaves the combinations as they were
                codes = _combine(codes, part, len(uniques))
        kvo = np.zeros(n, dtype=bool)
        if rate_ml_h is not None:
            rate = pd.to_numeric(rate_ml_h, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            kvo = ~np.isnan(rate) & (rate <= kvo_max_rate_ml_h)
        combo, _ = pd.factorize(codes * 2 + kvo)
        _, first = np.unique(combo, return_index=True)  # first row of each combination
        return cls(text_codes, texts, ndc_codes, ndcs, rxnorm_codes, rxnorms, override_codes, overrides,
                   kvo, combo, first)



def _resolve_distinct(distinct: _Distinct, reference: DrugReference, electrolyte_in_fluid: str) -> list[tuple]:
    """The result of every distinct combination, in combo order.

    Each distinct text, NDC and RxCUI is analysed or looked up once,
    whatever the number of rows or of combinations it appears in.
    """
    d = distinct
    analyses = [reference._index.analyse(str(t)) for t in d.texts]
    ndc_rows = _code_rows(d.ndc_codes[d.first], d.ndcs, reference._ndc_rows)
    rxnorm_rows = _code_rows(d.rxnorm_codes[d.first], d.rxnorms, reference._rxnorm_rows)
    # An NDC names the product charted; an RxCUI only the concept, so it comes second.
    code_rows = np.where(ndc_rows >= 0, ndc_rows, rxnorm_rows)
    code_sources = np.where(ndc_rows >= 0, "ndc", "rxnorm")
    results = []
    for i, pos in enumerate(d.first):
        t, o = d.text_codes[pos], d.override_codes[pos]
        results.append(
            _resolve(
                analyses[t] if t >= 0 else NO_TEXT,
                (int(code_rows[i]), str(code_sources[i])),
                d.overrides[o] if o >= 0 else None,
                bool(d.kvo[pos]),
                reference,
                electrolyte_in_fluid,
            )
        )
    return results


def _normalised_codes(
    values: pd.Series | None, n: int, normalise: Callable[[object], pd.Series]
) -> tuple[np.ndarray, pd.Index]:
    """Per-row codes into the distinct normalised values (``-1`` = missing).

    ``normalise`` sees only the distinct raw values, so its cost does not
    grow with the number of rows.
    """
    codes = np.full(n, -1, dtype=np.int64)
    if values is None:
        return codes, pd.Index([])
    raw_codes, raw_uniques = pd.factorize(values)
    norm_codes, uniques = pd.factorize(normalise(raw_uniques))
    if len(raw_uniques):
        codes = np.where(raw_codes >= 0, norm_codes[np.maximum(raw_codes, 0)], -1).astype(np.int64)
    return codes, uniques


def _code_rows(codes: np.ndarray, uniques: pd.Index, rows: Mapping[str, int]) -> np.ndarray:
    """The reference row of each code (``-1``: missing, or not in ``rows``).

    ``codes`` index ``uniques`` (``-1`` = missing); each distinct value is
    looked up once, then spread by position.
    """
    table = np.fromiter((rows.get(u, -1) for u in uniques), dtype=np.int64, count=len(uniques))
    return np.append(table, -1)[codes]  # code -1 takes the appended "not found"


def _combine(codes: np.ndarray, part: np.ndarray, n_part: int) -> np.ndarray:
    """Dense codes of the pairs (``codes``, ``part``); ``part`` is -1..n_part-1."""
    return pd.factorize(codes * (n_part + 1) + part + 1)[0].astype(np.int64)


def _resolve(
    a: TextAnalysis,
    code: tuple[int, str],
    override: str | None,
    kvo: bool,
    reference: DrugReference,
    electrolyte_in_fluid: str,
) -> tuple[str | None, str, bool, str | None, str]:
    """Class one distinct combination: ``RESULT_COLUMNS`` values, in order.

    ``code`` is the reference row of the NDC or RxCUI (-1: none or not
    mapped) and its ``class_source`` (``"ndc"`` / ``"rxnorm"``); ``kvo``
    says the rate is at or below the keep-vein-open rate.
    """
    code_row, code_source = code
    row = code_row if code_row >= 0 else a.row
    matched = a.matched
    if override is not None:
        klass, source = str(override), "override"
    elif row < 0:
        if a.diluent_word is not None:
            klass, source, matched = DILUENT, "name", a.diluent_word
        else:
            klass, source = UNKNOWN, "unknown"
    else:
        source = code_source if code_row >= 0 else "name"
        klass = reference._index.classes[row]
        if a.diluent_word is not None:
            klass = DILUENT
        elif klass == ELECTROLYTE:
            klass = electrolyte_in_fluid if _in_large_fluid(a) else THERAPEUTIC
        if klass == HYDRATION and a.carrier_wording:
            klass = DILUENT
        if klass == HYDRATION and kvo:
            klass, source = DILUENT, "kvo_rate"
    key = reference._keys[row] if row >= 0 else None
    hormonal = bool(row >= 0 and reference._hormonal[row] and klass == CHEMO)
    return key, klass, hormonal, matched, source


def _spread(results: list[tuple], combo: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """One result per distinct combination -> the result frame, one row per input row."""
    columns = list(zip(*results)) if results else [()] * len(RESULT_COLUMNS)
    dtypes: tuple[str | type, ...] = ("string", "string", bool, "string", "string")
    data = {}
    for name, values, dtype in zip(RESULT_COLUMNS, columns, dtypes):
        arr = np.asarray(values, dtype=object)[combo] if results else np.asarray([], dtype=object)
        data[name] = np.asarray(arr, dtype=bool) if dtype is bool else pd.array(arr, dtype=dtype)
    return pd.DataFrame(data, index=index)


def _in_large_fluid(a: TextAnalysis) -> bool:
    """Electrolyte rule (R-D6 / R-G1): is the vehicle a large-volume fluid?"""
    if a.hydration_named:
        return a.volume_ml is None or a.volume_ml >= LARGE_VOLUME_ML
    if a.vehicle_named:  # water or another diluent: a drug rider, not a fluid
        return False
    return a.volume_ml is not None and a.volume_ml >= LARGE_VOLUME_ML


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


def normalise_rxcui(values: pd.Series) -> pd.Series:
    """RxCUIs as charted -> the canonical RxCUI, or ``<NA>`` when not one.

    Text is trimmed and is an RxCUI when it is digits only; leading zeros
    are dropped (an RxCUI is a number). A numeric Series (not bool) is read
    as whole numbers >= 1. Anything else (blank, a display name, a code with
    a prefix or two codes) is ``<NA>``: the classifier never guesses.

    Invariants: the result is ``<NA>`` or digits without a leading zero, the
    form of :attr:`DrugReference.rxnorm`; the function is idempotent.

    Returns:
        ``string`` Series aligned with ``values``.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = pd.to_numeric(values, errors="coerce")
        whole = num.notna() & (num >= 1) & (num < 2**53) & (num == np.floor(num.fillna(0)))
        out = pd.Series(pd.NA, index=values.index, dtype="string")
        out[whole] = num[whole].astype("int64").astype(str)
        return out
    text = values.astype("string").str.strip().str.lstrip("0")
    is_rxcui = text.str.fullmatch(_RXCUI_RE.pattern).fillna(False).astype(bool)
    return text.where(is_rxcui, pd.NA).astype("string")


def _override_values(override: pd.Series) -> pd.Series:
    """Trimmed lower-case override values (blank -> missing), all in the contract's vocabulary."""
    text = override.astype("string").str.strip().str.lower()
    text = text.mask(text == "")
    bad = text.notna() & ~text.isin(schemas.DRUG_CLASSES)
    if bad.any():
        values = sorted(set(text[bad].dropna()))
        raise ValueError(
            f"override drug_class value(s) {values} not in {list(_OVERRIDE_ORDER)}; "
            "quarantine these rows before classifying"
        )
    return text
