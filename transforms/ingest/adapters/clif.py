"""CLIF adapter: CLIF medication-administration tables -> canonical MAR events.

CLIF (Common Longitudinal ICU data Format) keeps drug administrations in two
tables, ``clif_medication_admin_continuous`` (drips, fluids: start / rate
change / pause / restart / stop events) and
``clif_medication_admin_intermittent`` (single-time doses), plus
``clif_hospitalization`` (stays) and ``clif_adt`` (location segments). This
module maps them onto the canonical MAR columns of
../shared/spec/contract.md section 1 so that the unchanged reader, validation
and coding engine run on them. Pure pandas / pyarrow / stdlib; every step is
vectorised (``np.select`` over whole columns, no per-row Python loop).

Row accounting
    Continuous rows come first, then intermittent rows; ``source_row`` is the
    1-based position in that concatenation (file order of each table). Every
    input row is either in :attr:`ClifMar.mar` (mapped) or in
    :attr:`ClifMar.unmapped` (no canonical meaning, with a reason); nothing is
    dropped: ``rows_in == rows_mapped + rows_unmapped``. Mapped rows can still
    fail validation later (e.g. exact duplicates, see below).

Column mapping (both tables)

    ============== =========================================================
    canonical      CLIF
    ============== =========================================================
    encounter_id   ``hospitalization_id`` (the CLIF stay; ``hospitalization_
                   joined_id`` is not used to join stays)
    patient_id     ``patient_id`` of ``clif_hospitalization`` for that stay;
                   a stay missing there leaves it null and validation
                   quarantines the row ("patient_id missing")
    order_id       ``med_order_id``
    infusate_id    ``med_order_id``: the components of one mixed bag share
                   the order ("Main order parameter" / "Mixed solution" /
                   "Additives Ampoule" in ``med_route_name``), so they are one
                   infusate. (The engine itself gives each one-time dose on an
                   infusion route its own infusate, order + time.)
    drug           ``med_name`` as charted (the drug reference classifies it)
    ndc, drug_class, access_site, primary
                   null: CLIF has no NDC, no site and no billing class.
                   Without a site every event of a stay is on one access,
                   so the engine never codes a second initial service (XU)
    rate, rate_unit
                   continuous: ``med_dose`` / ``med_dose_unit`` as charted
                   (``mL/hour`` stays as is; the engine reads mL/h variants as
                   volume rates, any other unit as a dose rate)
    dose, dose_unit
                   intermittent: ``med_dose`` / ``med_dose_unit``
                   (``dose`` = one dose as ordered)
    volume_ml      intermittent dose given on an infusion route in ``mL``
                   (fluid bolus, piggy-back carrier): ``med_dose``
    event_time     ``admin_dttm``, kept as tz-aware UTC timestamps (what
                   ``read_extract`` returns for a Parquet extract;
                   ``stage_mar`` converts tz-aware values directly)
    ============== =========================================================

    ``med_dose`` is stored as float32; it is converted through its shortest
    decimal text so ``1.021622`` stays ``1.021622`` (not ``1.0216219425``).

Continuous table (``med_route_category``: ``iv`` -> ``iv_infusion``,
``sc`` / ``subcutaneous`` -> ``sc_infusion``; any other route -> unmapped,
"route X is not a drug-administration route")

    mar_action_name                     action       why
    ``[Started]``                       start
    ``[Restarted]``                     resume       after a pause
    ``ChangeDose/Rate``                 rate_change
    ``Paused``                          pause
    ``Stopped``, ``FinishedRunning``    stop
    ``Paused, [Restarted]``             resume       paused and restarted in one
                                                     charting: no minute paused,
                                                     running after, at the
                                                     charted rate
    ``[Started Bolus]``,                rate_change  a bolus from the pump of the
    ``ChangeDose/Rate, [Started Bolus]``,            running bag: same bag, same
    ``[Finished Bolus]``                             drug, the bag keeps running
                                                     (not a separate push); as
                                                     a bag's first event it
                                                     starts the bag (rate_change
                                                     leaves a bag running)
    ``[Finished Bolus], [Restarted]``   resume       bolus over, drip restarted
    any other label                     by ``mar_action_category``: ``start``
                                        -> start, ``stop`` -> stop,
                                        ``dose_change`` / ``going`` ->
                                        rate_change; anything else unmapped,
                                        "continuous action '<label>' (category
                                        '<category>') has no canonical MAR
                                        action"

Intermittent table: the action is ``given`` when ``mar_action_category`` is
``given`` or ``bolus`` (``FinishedRunning``, ``Bolus`` in the demo); any other
category (not given, held, ...) is unmapped, "intermittent action '<label>'
(category '<category>') is not a given dose". Route, first match wins:

    ``med_route_category`` / ``med_route_name``        route         action
    not iv / im / sc (``enteral``, ...)                 unmapped: "route enteral
                                                        is not a drug-
                                                        administration route"
    iv, action ``Bolus`` (a bolus from a drip)          iv_push       given
    iv, "Additives Ampoule" of an order that also has   iv_infusion   start
      continuous events (the additive, e.g. magnesium,
      is charted at the [Started] of its NaCl carrier:
      one mixed bag with it)
    iv, first group "Antibiotics (IV)" (piggy-back)     iv_infusion   given
    iv, first group "Fluids (...)", "IV Fluid Bolus",   iv_infusion   given
      "Parenteral Nutrition" (fluid bolus, rider bag)
    iv, "Med Bolus" or "Drug Push"                      iv_push       given
    iv, anything else                                   iv_infusion   given
    im charted as subcutaneous: "Insulin (Non IV)", or  sc_injection  given
      "(Non IV)" with insulin / heparin / enoxaparin /
      dalteparin / fondaparinux in ``med_name`` (MIMIC
      files SC insulin and SC heparin prophylaxis under
      CLIF ``im``)
    im otherwise                                        im_injection  given
    sc / subcutaneous                                   sc_injection  given

    A ``given`` on ``iv_infusion`` is a dose with no stop time: the engine's
    missing-stop policy decides (derive the end from volume and rate, else a
    push) and reports it as ``missing_stop_time``.

Duplicates
    Exact duplicate events (same stay, order, drug, action, time) are real in
    CLIF (dextrose rows listed twice with two ``med_category`` values). They
    are mapped, and the validation's duplicate check quarantines the later one
    ("duplicate of row N").

``clif_adt`` is read (so a missing table is reported) but not used: the
encounter is the CLIF hospitalization.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.frames import lower, text
from transforms.ingest.adapters import MappedExtract
from transforms.ingest.readers import ExtractError
from transforms.vocab import schemas

#: Table name -> file name in a CLIF folder.
CLIF_FILES: dict[str, str] = {
    "continuous": "clif_medication_admin_continuous.parquet",
    "intermittent": "clif_medication_admin_intermittent.parquet",
    "hospitalization": "clif_hospitalization.parquet",
    "adt": "clif_adt.parquet",
}
#: Columns of the two medication-administration tables the mapping reads.
MED_COLUMNS: tuple[str, ...] = (
    "hospitalization_id",
    "med_order_id",
    "med_name",
    "med_category",
    "med_group",
    "admin_dttm",
    "mar_action_name",
    "mar_action_category",
    "med_dose",
    "med_dose_unit",
    "med_route_name",
    "med_route_category",
)
_MED_REQUIRED: tuple[str, ...] = (
    "hospitalization_id",
    "med_order_id",
    "med_name",
    "admin_dttm",
    "mar_action_name",
    "med_dose",
    "med_dose_unit",
    "med_route_name",
    "med_route_category",
)
SOURCES: tuple[str, ...] = ("continuous", "intermittent")
#: Column of the adapter output naming the CLIF table of a row.
TABLE_COLUMN = "clif_table"

#: Continuous ``mar_action_name`` -> canonical action (see module docstring).
CONTINUOUS_ACTIONS: dict[str, str] = {
    "[Started]": "start",
    "[Restarted]": "resume",
    "ChangeDose/Rate": "rate_change",
    "Paused": "pause",
    "Stopped": "stop",
    "FinishedRunning": "stop",
    "Paused, [Restarted]": "resume",
    "[Started Bolus]": "rate_change",
    "ChangeDose/Rate, [Started Bolus]": "rate_change",
    "[Finished Bolus]": "rate_change",
    "[Finished Bolus], [Restarted]": "resume",
}
#: Fallback for continuous labels not listed above, by ``mar_action_category``.
CONTINUOUS_CATEGORY_ACTIONS: dict[str, str] = {
    "start": "start",
    "stop": "stop",
    "dose_change": "rate_change",
    "going": "rate_change",
}
#: Intermittent ``mar_action_category`` values that mean "the dose was given".
INTERMITTENT_GIVEN_CATEGORIES: frozenset[str] = frozenset({"given", "bolus"})
_INTERMITTENT_GIVEN_NAMES = frozenset({"finishedrunning", "bolus", "given"})
_SUBCUT_DRUGS = r"insulin|heparin|enoxaparin|dalteparin|fondaparinux"
_SC_CATEGORIES = frozenset({"sc", "subcutaneous"})



@dataclass(frozen=True)
class ClifMar:
    """CLIF medication tables mapped onto the canonical MAR.

    Attributes:
        mar: mapped rows: ``schemas.MAR_COLUMNS`` (strings as object with
            None, ``event_time`` tz-aware UTC, ``rate``/``dose``/``volume_ml``
            float64), ``source_row`` (int64, 1-based over continuous then
            intermittent rows) and ``source`` (``"continuous"`` or
            ``"intermittent"``). Input order; index ``0..n-1``. Feed it to
            ``readers.stage_mar`` as the raw frame.
        unmapped: rows with no canonical meaning: ``source`` (``"mar"``),
            ``row`` (the ``source_row``), ``column``, ``reason``,
            :data:`TABLE_COLUMN`, then the original CLIF values as text
            (``""`` when missing).
        counts: ``rows_in``, ``rows_continuous``, ``rows_intermittent``,
            ``rows_mapped``, ``rows_unmapped``;
            ``rows_in == rows_mapped + rows_unmapped``.
    """

    mar: pd.DataFrame
    unmapped: pd.DataFrame
    counts: dict[str, int]


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------
def read_clif(directory: Path) -> dict[str, pd.DataFrame]:
    """Read the four CLIF tables of ``directory``.

    Returns:
        ``{"continuous", "intermittent", "hospitalization", "adt"}`` ->
        frame, values as stored, index ``0..n-1`` (a stored pandas index is
        discarded, so row order is file order).

    Raises:
        ExtractError: the folder or a file is missing or unreadable (the
            message names the file), or a medication table lacks a column the
            mapping needs.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ExtractError(directory, "CLIF folder not found")
    tables: dict[str, pd.DataFrame] = {}
    for name, filename in CLIF_FILES.items():
        path = directory / filename
        if not path.is_file():
            raise ExtractError(path, f"CLIF {name} table not found (expected {filename})")
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise ExtractError(path, f"cannot read Parquet ({type(err).__name__})") from None
        frame = frame.reset_index(drop=True)
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        tables[name] = frame
    for name in SOURCES:
        missing = [c for c in _MED_REQUIRED if c not in tables[name].columns]
        if missing:
            raise ExtractError(
                directory / CLIF_FILES[name], f"missing CLIF column(s): {', '.join(missing)}"
            )
    for column in ("hospitalization_id", "patient_id"):
        if column not in tables["hospitalization"].columns:
            raise ExtractError(
                directory / CLIF_FILES["hospitalization"], f"missing CLIF column(s): {column}"
            )
    return tables


def limit_encounters(
    continuous: pd.DataFrame, intermittent: pd.DataFrame, n: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the first ``n`` stays (sorted ``hospitalization_id``) only."""
    ids = pd.concat([continuous["hospitalization_id"], intermittent["hospitalization_id"]])
    keep = set(sorted(ids.dropna().astype(str).unique())[: max(int(n), 0)])
    return (
        continuous[continuous["hospitalization_id"].astype(str).isin(keep)].reset_index(drop=True),
        intermittent[intermittent["hospitalization_id"].astype(str).isin(keep)].reset_index(drop=True),
    )


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def _lowered(values: pd.Series) -> pd.Series:
    """Trimmed lower-case text with ``""`` (not ``None``) for missing or blank.

    The action and route rules compare with ``==`` / ``str.contains``, and
    their reasons quote the value, so a missing value is the empty text.
    """
    return lower(values).fillna("")


def _action_category(frame: pd.DataFrame) -> pd.Series:
    """:func:`_lowered` ``mar_action_category`` (``""`` everywhere when the table has none)."""
    return _lowered(frame.get("mar_action_category", pd.Series([""] * len(frame), index=frame.index)))


def _route_reason(route_cat: pd.Series) -> np.ndarray:
    """Quarantine reason for rows whose CLIF route has no canonical route."""
    return ("route " + route_cat.where(route_cat.ne(""), "(missing)")
            + " is not a drug-administration route").to_numpy(dtype=object)


def _float(values: pd.Series) -> pd.Series:
    """float64 through the shortest decimal text (float32 1.021622 stays)."""
    if values.dtype == np.float32:
        return pd.to_numeric(values.astype(str), errors="coerce").astype("float64")
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _utc(values: pd.Series) -> pd.Series:
    """Event times as tz-aware UTC; naive stored times are taken as UTC."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC")
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def _nones(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


def _order_keys(frame: pd.DataFrame) -> pd.Series:
    """Stay + order per row: the identity of a bag across the two tables."""
    return frame["hospitalization_id"].astype(str) + "\x1f" + frame["med_order_id"].astype(str)


def originals(continuous: pd.DataFrame, intermittent: pd.DataFrame) -> pd.DataFrame:
    """The input rows as text, for quarantine files.

    Returns:
        ``row`` (= ``source_row``), :data:`TABLE_COLUMN`, then
        :data:`MED_COLUMNS` (and any further input columns) as ``str`` with
        ``""`` for missing; ``admin_dttm`` as ISO-8601 with offset.
    """
    parts = []
    offset = 0
    for name, frame in zip(SOURCES, (continuous, intermittent), strict=True):
        part = frame.reset_index(drop=True).copy()
        part.insert(0, TABLE_COLUMN, name)
        part.insert(0, "row", np.arange(offset + 1, offset + len(frame) + 1, dtype="int64"))
        offset += len(frame)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    extra = [c for c in frame.columns if c not in ("row", TABLE_COLUMN, *MED_COLUMNS)]
    cols = ["row", TABLE_COLUMN, *[c for c in MED_COLUMNS if c in frame.columns], *extra]
    out = pd.DataFrame({"row": frame["row"].astype("int64")})
    for name in cols[1:]:  # one pass per column
        col = frame[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            text = col.dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(
                r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True
            )
        else:
            text = col.astype(object).astype(str)
        out[name] = text.where(col.notna(), "").astype(object)
    return out


# --------------------------------------------------------------------------
# Mapping
# --------------------------------------------------------------------------
def _continuous_actions(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(route, action, unmapped reason/column) per continuous row; reason '' = mapped.

    The action comes from the label (:data:`CONTINUOUS_ACTIONS`), else from
    the category (:data:`CONTINUOUS_CATEGORY_ACTIONS`); a row without a
    canonical route is unmapped for its route before its action.
    """
    name = frame["mar_action_name"].astype("string").str.strip()
    category = _action_category(frame)
    by_name = name.map(CONTINUOUS_ACTIONS)
    by_category = category.map(CONTINUOUS_CATEGORY_ACTIONS)
    action = by_name.fillna(by_category).astype(object)
    route_cat = _lowered(frame["med_route_category"])
    route = np.select(
        [route_cat.eq("iv").to_numpy(), route_cat.isin(_SC_CATEGORIES).to_numpy()],
        ["iv_infusion", "sc_infusion"],
        default="",
    ).astype(object)
    route_reason = _route_reason(route_cat)
    action_reason = (
        "continuous action '" + name.fillna("") + "' (category '" + category
        + "') has no canonical MAR action"
    ).to_numpy(dtype=object)
    no_route = route == ""
    no_action = action.isna().to_numpy()
    reason = np.where(no_route, route_reason, np.where(no_action, action_reason, ""))
    column = np.where(no_route, "med_route_category", np.where(no_action, "mar_action_name", ""))
    action_out = action.where(action.notna(), "").to_numpy(dtype=object)
    return route, action_out, np.stack([reason, column])


def _intermittent_routes(frame: pd.DataFrame, continuous_orders: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """(route, is additive) per intermittent row: the route table of the module docstring.

    The first matching condition wins (``np.select``); ``""`` = no
    drug-administration route. An additive is an "Additives Ampoule" of an
    order that also has continuous events (it rides in that bag).
    """
    route_cat = _lowered(frame["med_route_category"])
    route_name = _lowered(frame["med_route_name"])
    first_group = route_name.str.split(";").str[0].fillna("").str.strip()
    drug = _lowered(frame["med_name"])
    is_bolus = frame["mar_action_name"].astype("string").str.strip().str.lower().eq("bolus").fillna(False)
    iv = route_cat.eq("iv")
    im = route_cat.eq("im")
    subcut_text = route_name.str.contains("insulin (non iv)", regex=False) | (
        route_name.str.contains("(non iv)", regex=False) & drug.str.contains(_SUBCUT_DRUGS, regex=True)
    )
    additive = iv & route_name.str.contains("additives ampoule", regex=False) & _order_keys(frame).isin(
        continuous_orders)
    piggyback = iv & first_group.str.contains("antibiotics (iv)", regex=False)
    fluid = iv & first_group.str.contains(r"fluids \(|fluid bolus|parenteral nutrition", regex=True)
    push = iv & (first_group.str.contains("med bolus", regex=False)
                 | route_name.str.contains("drug push", regex=False))
    rules = [
        ((iv & is_bolus), "iv_push"),
        (additive, "iv_infusion"),
        (piggyback, "iv_infusion"),
        (fluid, "iv_infusion"),
        (push, "iv_push"),
        (iv, "iv_infusion"),
        ((im & subcut_text), "sc_injection"),
        (im, "im_injection"),
        (route_cat.isin(_SC_CATEGORIES), "sc_injection"),
    ]
    route = np.select([c.to_numpy() for c, _ in rules], [r for _, r in rules], default="").astype(object)
    return route, additive.to_numpy()


def _intermittent_actions(
    frame: pd.DataFrame, continuous_orders: pd.Index
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(route, action, unmapped reason/column) per intermittent row; reason '' = mapped.

    A row is given when its category is in
    :data:`INTERMITTENT_GIVEN_CATEGORIES`, or it has no category and its
    label means given. Its action is ``given``, except an additive (``start``:
    it starts with its carrier bag). A row without a route is unmapped for
    its route before its action.
    """
    route, additive = _intermittent_routes(frame, continuous_orders)
    action_name = frame["mar_action_name"].astype("string").str.strip()
    category = _action_category(frame)
    given = category.isin(INTERMITTENT_GIVEN_CATEGORIES) | (
        category.eq("") & action_name.str.lower().isin(_INTERMITTENT_GIVEN_NAMES)
    )
    action = np.where(additive, "start", "given").astype(object)
    no_route = route == ""
    not_given = ~given.fillna(False).to_numpy(dtype=bool)
    route_reason = _route_reason(_lowered(frame["med_route_category"]))
    given_reason = (
        "intermittent action '" + action_name.fillna("") + "' (category '" + category
        + "') is not a given dose"
    ).to_numpy(dtype=object)
    reason = np.where(no_route, route_reason, np.where(not_given, given_reason, ""))
    column = np.where(no_route, "med_route_category", np.where(not_given, "mar_action_category", ""))
    return route, action, np.stack([reason, column])


def _check_columns(continuous: pd.DataFrame, intermittent: pd.DataFrame) -> None:
    """Raise ``ValueError`` when a medication table lacks a column the mapping needs."""
    for name, frame in zip(SOURCES, (continuous, intermittent), strict=True):
        missing = [c for c in _MED_REQUIRED if c not in frame.columns]
        if missing:
            raise ValueError(f"CLIF {name} table lacks column(s): {', '.join(missing)}")


def _patients(hospitalization: pd.DataFrame) -> pd.Series:
    """``patient_id`` per stay (first row of a stay listed twice), keyed like ``encounter_id``.

    Both sides go through :func:`transforms.frames.text`, so an id matches
    whatever its stored type; a row without a stay id names no stay.
    """
    stay = text(hospitalization["hospitalization_id"])
    hosp = pd.DataFrame({"stay": stay, "patient": text(hospitalization["patient_id"])})[stay.notna()]
    return hosp.drop_duplicates("stay").set_index("stay")["patient"]


def _mar_frame(both: pd.DataFrame, route: np.ndarray, action: np.ndarray, source: np.ndarray,
               patient: pd.Series) -> pd.DataFrame:
    """Every input row as canonical MAR columns, then ``source_row`` and ``source``.

    ``med_dose`` is a rate on continuous rows and a dose on intermittent
    ones; an intermittent dose in mL given on an infusion route is also its
    ``volume_ml`` (a fluid bolus or piggy-back carrier).
    """
    is_cont = source == "continuous"
    n = len(both)
    dose = _float(both["med_dose"])
    unit = text(both["med_dose_unit"])
    encounter = text(both["hospitalization_id"])
    order = text(both["med_order_id"])
    is_ml = unit.fillna("").str.strip().str.lower().isin({"ml", "milliliter", "milliliters"})
    infusion_dose = ~is_cont & (route == "iv_infusion") & (action == "given") & is_ml.to_numpy()
    mar = pd.DataFrame(
        {
            "encounter_id": encounter,
            "patient_id": encounter.map(patient).astype(object).where(lambda s: s.notna(), None),
            "order_id": order,
            "drug": text(both["med_name"]),
            "route": route,
            "action": action,
            "event_time": _utc(both["admin_dttm"]),
            "infusate_id": order,
            "ndc": _nones(n),
            "drug_class": _nones(n),
            "access_site": _nones(n),
            "rate": dose.where(is_cont, np.nan),
            "rate_unit": unit.where(is_cont, None),
            "dose": dose.where(~is_cont, np.nan),
            "dose_unit": unit.where(~is_cont, None),
            "volume_ml": dose.where(infusion_dose, np.nan),
            "primary": _nones(n),
            schemas.SOURCE_ROW: np.arange(1, n + 1, dtype="int64"),
            "source": source,
        }
    )
    return mar[[*schemas.MAR_COLUMNS, schemas.SOURCE_ROW, "source"]]


def _unmapped(original: pd.DataFrame, mapped: np.ndarray, why: np.ndarray) -> pd.DataFrame:
    """Rows not mapped: contract quarantine columns, then :data:`TABLE_COLUMN` and the CLIF values.

    ``why`` is the stacked (reason, column) of every input row.
    """
    bad = original[~mapped].reset_index(drop=True)
    head = pd.DataFrame({
        "source": "mar",
        "row": bad["row"].astype("int64"),
        "column": why[1][~mapped],
        "reason": why[0][~mapped],
    })
    return pd.concat([head, bad.drop(columns="row")], axis=1)


def clif_to_mar(
    continuous: pd.DataFrame, intermittent: pd.DataFrame, hospitalization: pd.DataFrame
) -> ClifMar:
    """Map the CLIF medication tables onto canonical MAR events.

    Args:
        continuous: ``clif_medication_admin_continuous`` rows.
        intermittent: ``clif_medication_admin_intermittent`` rows.
        hospitalization: ``clif_hospitalization`` (``hospitalization_id``,
            ``patient_id``).

    Returns:
        :class:`ClifMar`; see the module docstring for every mapping choice.
        Every input row is mapped or unmapped, never both, never dropped.

    Raises:
        ValueError: a medication table lacks a column the mapping needs.
        AssertionError: the row counts do not reconcile (a bug).
    """
    _check_columns(continuous, intermittent)
    cont = continuous.reset_index(drop=True)
    inter = intermittent.reset_index(drop=True)
    n_c, n_i = len(cont), len(inter)
    c_route, c_action, c_why = _continuous_actions(cont)
    i_route, i_action, i_why = _intermittent_actions(inter, pd.Index(_order_keys(cont).unique()))
    source = np.concatenate([np.full(n_c, "continuous", dtype=object), np.full(n_i, "intermittent", dtype=object)])
    why = np.concatenate([c_why, i_why], axis=1)
    mar = _mar_frame(
        pd.concat([cont[list(_MED_REQUIRED)], inter[list(_MED_REQUIRED)]], ignore_index=True),
        np.concatenate([c_route, i_route]), np.concatenate([c_action, i_action]), source,
        _patients(hospitalization),
    )
    mapped = why[0] == ""
    kept = mar[mapped].reset_index(drop=True)
    unmapped = _unmapped(originals(cont, inter), mapped, why)
    counts = {
        "rows_in": n_c + n_i,
        "rows_continuous": n_c,
        "rows_intermittent": n_i,
        "rows_mapped": len(kept),
        "rows_unmapped": len(unmapped),
    }
    if counts["rows_in"] != counts["rows_mapped"] + counts["rows_unmapped"]:
        raise AssertionError(f"CLIF rows do not reconcile: {counts}")
    return ClifMar(mar=kept, unmapped=unmapped, counts=counts)


# --------------------------------------------------------------------------
# Outputs of a CLIF run
# --------------------------------------------------------------------------
def empty_claims() -> pd.DataFrame:
    """A claims frame with no lines (canonical columns + ``source_row``)."""
    dtypes = {"line_number": "Int64", "units": "Int64", "charge": "float64", "source_row": "int64"}
    return pd.DataFrame(
        {c: pd.Series([], dtype=dtypes.get(c, object)) for c in (*schemas.CLAIM_COLUMNS, schemas.SOURCE_ROW)}
    )


def combine_quarantine(
    unmapped: pd.DataFrame, validation: pd.DataFrame, original: pd.DataFrame
) -> pd.DataFrame:
    """One quarantine: adapter-unmapped rows and validation-quarantined rows.

    Args:
        unmapped: :attr:`ClifMar.unmapped`.
        validation: quarantine of ``split_quarantine(..., "mar")`` (its own
            copies of the mapped values are replaced by the CLIF originals).
        original: :func:`originals` of the same input.

    Returns:
        Contract columns (``source``, ``row``, ``column``, ``reason``), then
        :data:`TABLE_COLUMN` and the original CLIF values; sorted by ``row``.
    """
    head = list(schemas.QUARANTINE_COLUMNS)
    val = validation[head].merge(original, on="row", how="left")
    out = pd.concat([unmapped, val], ignore_index=True)
    cols = head + [c for c in original.columns if c != "row"]
    out = out.reindex(columns=cols).sort_values("row", kind="mergesort").reset_index(drop=True)
    return out.astype({"row": "int64"})


def reason_pattern(reasons: pd.Series) -> pd.Series:
    """Reasons with row numbers generalised ("duplicate of row N ...")."""
    return reasons.astype(str).str.replace(r"\brow \d+", "row N", regex=True)


def unknown_drugs(administrations: pd.DataFrame) -> pd.Series:
    """Administrations per unclassified drug label, most frequent first."""
    unk = administrations[administrations["drug_class"] == "unknown"]
    labels = unk["drug_label"].astype(str).str.split("+").explode().str.lstrip("?")
    labels = labels[labels.ne("")]
    return labels.value_counts().sort_index(kind="mergesort").sort_values(ascending=False, kind="mergesort")


def rule_counts(expected: pd.DataFrame) -> pd.Series:
    """Expected lines per rule id (``rule_ids`` is ``;``-joined)."""
    ids = expected["rule_ids"].astype(str).str.split(";").explode()
    ids = ids[ids.ne("") & ids.ne("nan")]
    return ids.value_counts().sort_index()


def summarise(
    counts: dict[str, int],
    kept: pd.DataFrame,
    validation: pd.DataFrame,
    unmapped: pd.DataFrame,
    administrations: pd.DataFrame,
    expected: pd.DataFrame,
    findings: pd.DataFrame,
) -> dict[str, object]:
    """Counts of one CLIF run (no patient identifiers, no encounter ids).

    ``rows`` reconciles: ``rows_in == rows_kept + rows_quarantined +
    rows_unmapped`` (checked, ``AssertionError`` otherwise).
    """
    rows = {
        **counts,
        "rows_kept": len(kept),
        "rows_quarantined": len(validation),
        "rows_unmapped": len(unmapped),
    }
    if rows["rows_in"] != rows["rows_kept"] + rows["rows_quarantined"] + rows["rows_unmapped"]:
        raise AssertionError(f"CLIF run does not reconcile: {rows}")

    def as_dict(series: pd.Series) -> dict[str, int]:
        return {str(k): int(v) for k, v in series.items()}

    by_code = expected.groupby("hcpcs").agg(lines=("units", "size"), units=("units", "sum"))
    encounters = {
        "in_mar": int(kept["encounter_id"].nunique()) if len(kept) else 0,
        "with_administrations": int(administrations["encounter_id"].nunique()),
        "with_expected_lines": int(expected["encounter_id"].nunique()),
    }
    return {
        "rows": rows,
        "quarantined_by_reason": as_dict(reason_pattern(validation["reason"]).value_counts()),
        "unmapped_by_reason": as_dict(unmapped["reason"].value_counts()),
        "encounters": encounters,
        "expected_lines": int(len(expected)),
        "expected_by_hcpcs": {
            str(code): {"lines": int(r["lines"]), "units": int(r["units"])} for code, r in by_code.iterrows()
        },
        "expected_by_rule": as_dict(rule_counts(expected)),
        "administrations_by_role": as_dict(administrations["role"].fillna("(none)").value_counts()),
        "administrations_by_kind": as_dict(administrations["kind"].value_counts()),
        "unknown_drugs": as_dict(unknown_drugs(administrations)),
        "findings_by_key": as_dict(findings["finding"].value_counts()),
    }



def read_mapped(folders: Sequence[Path]) -> MappedExtract:
    """CLIF folder(s) as a :class:`~transforms.ingest.adapters.MappedExtract` (``--mar-format clif``).

    ``source_file`` names the CLIF table of each row (``continuous`` or
    ``intermittent``) and ``source_record`` its 1-based ``source_row``; a
    mapped row is staged and validated like any MAR row, and a row with no
    canonical meaning is an ``unmapped`` record with its reason.
    """
    parts = []
    for folder in folders:
        tables = read_clif(Path(folder))
        mapped = clif_to_mar(tables["continuous"], tables["intermittent"], tables["hospitalization"])
        rows = mapped.mar.assign(source_file=mapped.mar["source"], source_record=mapped.mar[schemas.SOURCE_ROW])
        unmapped = mapped.unmapped.assign(source_file=mapped.unmapped[TABLE_COLUMN],
                                          source_record=mapped.unmapped["row"])
        parts.append(MappedExtract(kind="mar", format="clif", rows=rows.drop(columns=["source"]), unmapped=unmapped))
    if len(parts) == 1:
        return parts[0]
    return MappedExtract(kind="mar", format="clif", rows=pd.concat([p.rows for p in parts], ignore_index=True),
                         unmapped=pd.concat([p.unmapped for p in parts], ignore_index=True))
