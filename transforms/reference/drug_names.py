"""Drug text: tokenising and matching charted text against drug aliases.

Text is folded to lower-case ASCII and cut into tokens: runs of letters,
numbers (``1,000`` -> ``1000``, ``.9`` -> ``0.9``, ``1/2`` kept whole) and
``%``; every other character separates tokens, so ``riTUXimab-abbs``,
``rituximab abbs`` and ``RITUXIMAB/ABBS`` are the same, ``0.9 %`` equals
``0.9%`` and ``D5W`` equals ``d 5 w``. Aliases are cut the same way.
Scanning left to right, the longest alias that starts at a token wins and the
scan resumes after it, so aliases only ever match whole words (``ns`` never
matches inside ``insulin``) and ``sodium chloride 0.45 %`` beats
``sodium chloride``.

The first free-standing ``in`` splits the drug from its vehicle
(``vancomycin 1 g in sodium chloride 0.9 % 250 mL``). Only aliases before it
compete, highest reference class first (``REFERENCE_CLASSES`` order, then the
earliest); the vehicle after it only counts when the part before is itself a
fluid or an electrolyte. Flush / KVO / TKO / keep-vein-open / lock wording
makes a diluent alias win wherever it is.

This module only reads text: :class:`TextAnalysis` says what a string names,
policy-free. Turning that into a billing class is
:func:`transforms.reference.drugs.classify_drugs`. Pure stdlib; deterministic.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from transforms.vocab.classes import DILUENT, ELECTROLYTE, HYDRATION, REFERENCE_CLASSES

Tokens = tuple[str, ...]
#: One alias found in a text: start token, end token (exclusive), reference row, alias.
Match = tuple[int, int, int, str]

_RANK: dict[str, int] = {c: len(REFERENCE_CLASSES) - i for i, c in enumerate(REFERENCE_CLASSES)}
_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?|[a-z]+|%")
_NUMBER_RE = re.compile(r"^\d+(?:\.\d+)?$")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_BARE_DECIMAL_RE = re.compile(r"(?<![\d.])\.(?=\d)")
_APOSTROPHES_RE = re.compile("['\u2018\u2019`\u00b4]")
# Single-token aliases that would match ordinary order text.
STOP_ALIASES = frozenset(
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
_DILUENT_PHRASES: tuple[Tokens, ...] = (
    ("keep", "vein", "open"),
    ("keep", "veins", "open"),
    ("keep", "open"),
)
# Wording that makes a plain fluid a diluent (the carrier of a drug, R-G3).
_CARRIER_TOKENS = frozenset({"carrier", "diluent"})
_VOLUME_UNITS = {"ml": 1.0, "l": 1000.0, "liter": 1000.0, "liters": 1000.0, "litre": 1000.0}
_RATE_WORDS = frozenset({"h", "hr", "hrs", "hour", "hours", "min", "mins", "minute", "minutes", "kg"})


def tokenize(text: str) -> Tokens:
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


def alias_problem(alias: str, tokens: Tokens) -> str | None:
    """Why ``alias`` (cut into ``tokens``) cannot be an alias, or ``None``.

    An alias must have a token with letters (``0.9 %`` would match every
    saline) and must not be one generic word of order text (``mg``, ``bag``).
    """
    if not alias or not tokens:
        return "empty alias in names"
    if not any(t.isalpha() for t in tokens):
        return f"alias {alias!r} has no letters"
    if len(tokens) == 1 and tokens[0] in STOP_ALIASES:
        return f"alias {alias!r} is too generic"
    return None


@dataclass(frozen=True)
class TextAnalysis:
    """What the text of one distinct drug string says (policy-free)."""

    row: int  # reference row of the chosen alias, -1 when none
    matched: str | None  # the alias as written in the reference (lower case)
    hydration_named: bool  # a hydration fluid is named anywhere
    vehicle_named: bool  # a hydration fluid or a diluent is named anywhere
    volume_ml: float | None  # largest volume written (mL), None when none
    diluent_word: str | None  # flush / KVO / TKO / keep vein open / lock wording found
    carrier_wording: bool  # carrier / diluent


#: The analysis of a missing drug text: nothing named, nothing matched.
NO_TEXT = TextAnalysis(-1, None, False, False, None, None, False)


@dataclass(frozen=True)
class AliasIndex:
    """Token-tuple -> (reference row, alias) for every alias, with row classes.

    Invariants: every key is a non-empty token tuple; ``classes[row]`` is in
    ``REFERENCE_CLASSES`` for every row an alias points at.
    """

    aliases: Mapping[Tokens, tuple[int, str]]
    classes: tuple[str, ...]
    max_tokens: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_tokens", max((len(t) for t in self.aliases), default=1))

    def analyse(self, text: str) -> TextAnalysis:
        """Match one distinct drug string against the aliases."""
        tokens = tokenize(text)
        matches = _scan(tokens, self.aliases, self.max_tokens)
        covered: set[int] = set()
        for start, end, _, _ in matches:
            covered.update(range(start, end))
        # The first "in" that is not part of an alias (the alias "dextrose
        # 50 % in water" has one) separates the drug from its vehicle.
        split = next((k for k, t in enumerate(tokens) if t == "in" and k not in covered), len(tokens))
        before = [m for m in matches if m[0] < split]
        hydration_named = any(self.classes[m[2]] == HYDRATION for m in matches)
        vehicle_named = hydration_named or any(self.classes[m[2]] == DILUENT for m in matches)
        diluent_word = _diluent_wording(tokens)
        chosen = self._choose(matches, before, diluent_word)
        return TextAnalysis(
            row=chosen[2] if chosen else -1,
            matched=chosen[3] if chosen else None,
            hydration_named=hydration_named,
            vehicle_named=vehicle_named,
            volume_ml=_largest_volume(tokens),
            diluent_word=diluent_word,
            carrier_wording=bool(set(tokens) & _CARRIER_TOKENS),
        )

    def _choose(self, matches: list[Match], before: list[Match], diluent_word: str | None) -> Match | None:
        """The alias that decides: see the module docstring."""
        if diluent_word is not None:
            pool = [m for m in matches if self.classes[m[2]] == DILUENT] or before or matches
            return self._best(pool) if pool else None
        if not before:
            return None
        best = self._best(before)
        if self.classes[best[2]] in (HYDRATION, ELECTROLYTE):
            best = self._best(matches)  # the vehicle may decide
        return best

    def _best(self, pool: list[Match]) -> Match:
        """Highest-ranked class first, then the earliest position."""
        return min(pool, key=lambda m: (-_RANK[self.classes[m[2]]], m[0]))


def _scan(tokens: Tokens, aliases: Mapping[Tokens, tuple[int, str]], max_tokens: int) -> list[Match]:
    """Longest alias starting at each token, left to right, no overlaps."""
    n = len(tokens)
    matches: list[Match] = []
    i = 0
    while i < n:
        hit = None
        for length in range(min(max_tokens, n - i), 0, -1):
            found = aliases.get(tokens[i : i + length])
            if found is not None:
                hit = (i, i + length, found[0], found[1])
                break
        if hit is None:
            i += 1
        else:
            matches.append(hit)
            i = hit[1]
    return matches


def _diluent_wording(tokens: Tokens) -> str | None:
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


def _largest_volume(tokens: Tokens) -> float | None:
    """Largest ``<number> mL`` / ``<number> L`` in the tokens (mL), rates excluded."""
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
