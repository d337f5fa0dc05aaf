"""National Drug Codes: the one rule that turns a charted NDC into its key.

The NDC mapping of the drug reference is keyed by the 11-digit 5-4-2 form
(``ndc11``). Labels print 10-digit codes in three hyphenated shapes whose
short segment is zero-padded to reach 11 digits. Both the MAR reader (which
stages the ``ndc`` column) and the classifier (which looks codes up) use
:func:`normalise_ndc`, so a code the reader stages as 11 digits is always a
code the classifier can look up, and nothing else is.

Pure pandas; vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: A normalised NDC: exactly 11 digits (5-4-2 without hyphens).
NDC11_PATTERN: str = r"\d{11}"

# Hyphenated 10-digit label shapes and where the padding zero goes:
# 4-4-2 -> 0+4-4-2, 5-3-2 -> 5-0+3-2, 5-4-1 -> 5-4-0+1. Anchored: a shape
# inside other text is not padded (its digits are then counted as they are).
_TEN_DIGIT_SHAPES: tuple[tuple[str, str], ...] = (
    (r"^(\d{4})-(\d{4})-(\d{2})$", r"0\1\2\3"),
    (r"^(\d{5})-(\d{3})-(\d{2})$", r"\g<1>0\2\3"),
    (r"^(\d{5})-(\d{4})-(\d)$", r"\1\g<2>0\3"),
)
# Integers from 0 up to here zero-fill to at most 11 digits.
_NDC11_LIMIT: float = 1e11


def normalise_ndc(values: pd.Series) -> pd.Series:
    """NDCs as charted -> the 11-digit key, or ``<NA>`` when not an NDC.

    The rule (one for the whole audit):

    * text is trimmed; a hyphenated 10-digit label form (4-4-2, 5-3-2,
      5-4-1, the whole value) has its short segment zero-padded;
    * then the value is an NDC when its digits number exactly 11: the key is
      those digits, whatever separated them (``12345-6789-01``,
      ``12345 6789 01`` and ``12345678901`` are one code);
    * a numeric Series (not bool) is read as whole numbers whose leading
      zeros a spreadsheet dropped: 0 <= n < 1e11 is zero-filled to 11 digits;
    * anything else is ``<NA>``: missing or blank, too few or too many
      digits, and 10 digits without hyphens (ambiguous: the padding position
      is unknown).

    Invariants: the result is ``<NA>`` or matches :data:`NDC11_PATTERN`;
    applying the function to its own (non-null) result changes nothing.
    Callers that must keep what was charted (the MAR reader) fall back to the
    charted text where the result is ``<NA>``.

    Args:
        values: NDCs as charted (text, or numbers from a spreadsheet export).

    Returns:
        ``string`` Series aligned with ``values``.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = pd.to_numeric(values, errors="coerce")
        whole = num.notna() & (num >= 0) & (num < _NDC11_LIMIT) & (num == np.floor(num.fillna(0)))
        out = pd.Series(pd.NA, index=values.index, dtype="string")
        out[whole] = num[whole].astype("int64").astype(str).str.zfill(11)
        return out
    text = values.astype("string").str.strip()
    for shape, padded in _TEN_DIGIT_SHAPES:
        text = text.str.replace(shape, padded, regex=True)
    digits = text.str.replace(r"\D", "", regex=True)
    is_ndc = digits.str.fullmatch(NDC11_PATTERN).fillna(False).astype(bool)
    return digits.where(is_ndc, pd.NA).astype("string")
