"""A night's lookback window, read filtered (:func:`flows.pipeline.load_day_from_lake`).

The older nights are read filtered on the day's encounters and their claims
(:mod:`transforms.outputs.lake_window`); the day's inputs must be those the
whole window gives (:func:`_whole_window`, the rule written out on whole
reads): voids found from older lines, replacements taken wholesale from the
newest night, a claim whose lines span two encounters, MAR events resent.
"""

from __future__ import annotations

import gc
import weakref
from datetime import date, timedelta

import pandas as pd
import pytest

from flows import pipeline
from flows.settings import Settings
from transforms.outputs import lake, lake_claims, lake_window
from transforms.vocab.schemas import CLAIM_ARROW, CLAIM_LINE_KEY, MAR_ARROW, MAR_EVENT_KEY, VOIDED

N1 = date(2026, 11, 2)
NIGHTS = [N1 + timedelta(days=i) for i in range(5)]


def _mar(enc: str, minute: int, rate: float = 100.0, primary: bool | None = True) -> dict:
    return {"encounter_id": enc, "patient_id": "P", "order_id": "O", "infusate_id": f"I{enc}", "drug": "d",
            "route": "iv_infusion", "action": "start", "access_site": "L", "rate": rate, "primary": primary,
            "event_time": pd.Timestamp("2026-11-02T05:00", tz="UTC") + pd.Timedelta(minutes=minute),
            "source_row": minute}


def _line(claim: str, enc: str, n: int, units: int = 1, freq: str = "1") -> dict:
    return {"claim_id": claim, "encounter_id": enc, "line_number": n, "hcpcs": "96365", "units": units,
            "claim_frequency": freq, "service_date": N1, "source_row": n}


def _night(root, day: date, mar: list[dict], claims: list[dict], voided: tuple[str, ...] = ()) -> None:
    quarantine = pd.DataFrame({"source": "claims", "claim_id": list(voided), "reason": VOIDED})
    lake.write_days(root, day, {"mar_events": (pd.DataFrame(mar), MAR_ARROW),
                                "claim_lines": (pd.DataFrame(claims), CLAIM_ARROW), "quarantine": (quarantine, None)})


@pytest.fixture()
def lake_root(tmp_path):
    """Five nights. Encounters A..G; claims C-A (A), C-B (B), C-AB (lines of A and of E), C-D (D), C-F (F), C-G (G).

    night 1: A, B, E, F, G billed; A's MAR; D's MAR with a null ``primary``.
    night 2: D billed (C-D); C-AB replaced by its E line alone (A's line superseded, read only by
    claim id); C-G voided.
    night 3: A's MAR resent with a new rate (the newest copy wins); B's MAR; G's MAR (C-G stays void).
    night 4: C-A voided (A re-audited from its night-1 line); C-B replaced (units 5); nothing else of A.
    night 5: F's claim voided; D's MAR again.
    """
    root = tmp_path / "lake"
    _night(root, NIGHTS[0], [_mar("A", 1), _mar("D", 2, primary=None)],
           [_line("C-A", "A", 1), _line("C-A", "A", 2), _line("C-B", "B", 1), _line("C-AB", "A", 1),
            _line("C-AB", "E", 2), _line("C-F", "F", 1), _line("C-G", "G", 1)])
    _night(root, NIGHTS[1], [], [_line("C-D", "D", 1), _line("C-AB", "E", 1, freq="7")], voided=("C-G",))
    _night(root, NIGHTS[2], [_mar("A", 1, rate=120.0), _mar("B", 3), _mar("G", 5)], [])
    _night(root, NIGHTS[3], [], [_line("C-B", "B", 1, units=5, freq="7")], voided=("C-A",))
    _night(root, NIGHTS[4], [_mar("D", 4)], [], voided=("C-F",))
    return root


def _whole_window(day: date, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's inputs from whole reads of the window (the rule, before filtered reads)."""
    first, key = day - timedelta(days=settings.lookback_days), lake.PARTITION_KEY
    mar, claims, quarantine = (lake.read_days(settings.lake_root, n, first, day) for n in lake_window.WINDOW_DATASETS)
    voids = lake_claims.voided_claims(quarantine, key)
    today = lake_claims.touched_encounters(claims, voids, day, key)
    claims = lake_claims.current_claim_lines(claims, voids, key)
    for frame in (mar, claims):
        today |= set(frame.loc[frame[key] == day, "encounter_id"])
    out = []
    for frame, cols in ((mar, MAR_EVENT_KEY), (claims, CLAIM_LINE_KEY)):
        frame = frame[frame["encounter_id"].isin(today)].sort_values(key).drop_duplicates(list(cols), keep="last")
        out.append(frame.drop(columns=[key]).reset_index(drop=True))
    out[0]["event_time"] = pd.to_datetime(out[0]["event_time"], utc=True)
    return out[0], out[1]


@pytest.mark.parametrize("lookback", [1, 3, 7])
def test_filtered_reads_give_the_whole_windows_inputs_every_night(lake_root, lookback):
    settings = Settings(lake_root=lake_root, lookback_days=lookback)
    for day in NIGHTS:
        mar, claims = pipeline.load_day_from_lake(day, settings)
        want_mar, want_claims = _whole_window(day, settings)
        pd.testing.assert_frame_equal(mar, want_mar)
        pd.testing.assert_frame_equal(claims, want_claims)


def _lines(claims: pd.DataFrame) -> list[tuple[str, str, int]]:
    return sorted(zip(claims["claim_id"], claims["encounter_id"], claims["units"]))


def test_a_claim_voided_three_nights_later_reaudits_its_encounter(lake_root):
    settings = Settings(lake_root=lake_root, lookback_days=7)
    mar, claims = pipeline.load_day_from_lake(NIGHTS[3], settings)
    # A is audited on night 4 (its claim's void; B for its replacement), with its MAR of
    # nights 1 and 3 kept once (the newest copy) ...
    assert sorted(mar["encounter_id"]) == ["A", "B"]
    assert mar.loc[mar["encounter_id"] == "A", "rate"].tolist() == [120.0]
    # ... without the voided claim, nor C-AB's A line (C-AB's newest mention is night 2's E line).
    assert _lines(claims) == [("C-B", "B", 5)]
    # A lookback that ends before the void's lines were billed cannot find the encounter.
    mar, claims = pipeline.load_day_from_lake(NIGHTS[3], Settings(lake_root=lake_root, lookback_days=2))
    assert sorted(mar["encounter_id"]) == ["B"] and _lines(claims) == [("C-B", "B", 5)]


def test_a_replacement_on_a_later_night_wins_wholesale(lake_root):
    settings = Settings(lake_root=lake_root, lookback_days=7)
    _, claims = pipeline.load_day_from_lake(NIGHTS[2], settings)  # A (resent MAR), B and G audited on night 3
    assert _lines(claims) == [("C-A", "A", 1), ("C-A", "A", 1), ("C-B", "B", 1)]  # C-AB's A line is gone
    _, claims = pipeline.load_day_from_lake(NIGHTS[3], settings)
    assert ("C-B", "B", 1) not in _lines(claims)  # the night-1 line of C-B, replaced on night 4


def test_a_claim_voided_on_an_older_night_stays_gone_when_its_encounter_is_audited(lake_root):
    """G's claim, billed on night 1 and voided on night 2, is read on night 3 (G's new MAR): the
    older night's void is its newest mention, so none of its lines is an input."""
    mar, claims = pipeline.load_day_from_lake(NIGHTS[2], Settings(lake_root=lake_root, lookback_days=7))
    assert "G" in set(mar["encounter_id"]) and "C-G" not in set(claims["claim_id"])
    assert _lines(claims) == [("C-A", "A", 1), ("C-A", "A", 1), ("C-B", "B", 1)]


def test_the_older_null_of_another_encounter_sets_the_dtype(lake_root):
    """D's null ``primary`` on night 1 makes the whole window's column object; the filtered read's too."""
    settings = Settings(lake_root=lake_root, lookback_days=7)
    mar, _ = pipeline.load_day_from_lake(NIGHTS[2], settings)  # D not audited: its row is not read
    assert "D" not in set(mar["encounter_id"]) and mar["primary"].dtype == object


def test_read_window_reads_only_the_days_encounters_and_their_claims(lake_root):
    day = NIGHTS[3]
    rows = [lake.read_days(lake_root, n, day, day) for n in lake_window.WINDOW_DATASETS]
    window = lake_window.read_window(lake_root, NIGHTS[0], NIGHTS[2], rows)
    mar, claims, quarantine = window.frames
    assert window.has_rows == (True, True)
    assert sorted(mar["encounter_id"]) == ["A", "A", "B"]  # the void's and the replacement's; not D
    # A's and B's lines, and C-AB's line of E (another encounter, same claim): not D's or F's.
    assert sorted(zip(claims["claim_id"], claims["encounter_id"])) == [
        ("C-A", "A"), ("C-A", "A"), ("C-AB", "A"), ("C-AB", "E"), ("C-AB", "E"), ("C-B", "B"), ("C-B", "B")]
    assert set(quarantine["claim_id"]) == {"C-A"}


def test_a_night_with_no_older_rows_and_no_rows_of_its_own_is_refused(tmp_path):
    root = tmp_path / "lake"
    _night(root, NIGHTS[2], [_mar("A", 1)], [])
    settings = Settings(lake_root=root, lookback_days=1)
    _night(root, NIGHTS[4], [], [])
    with pytest.raises(FileNotFoundError):
        pipeline.load_day_from_lake(NIGHTS[4], settings)
    # With A's night in the window the night is not refused: it audits nothing.
    mar, claims = pipeline.load_day_from_lake(NIGHTS[3], Settings(lake_root=root, lookback_days=1))
    assert mar.empty and claims.empty and lake.PARTITION_KEY not in mar


def test_lake_trend_reads_only_its_columns_and_equals_the_whole_reads_trend(tmp_path, monkeypatch):
    from transforms.outputs.report_html import TREND_COLUMNS, trend_from_findings
    from transforms.vocab.schemas import FINDINGS_ARROW

    root = tmp_path / "lake"
    rows = {NIGHTS[0]: [("A", "over_billed", 10.5), ("A", "under_billed", None), ("B", "over_billed", 2.25)],
            NIGHTS[1]: [], NIGHTS[2]: [("C", "under_billed", -4.0)]}
    for day, found in rows.items():
        frame = pd.DataFrame([{"encounter_id": e, "direction": d, "dollar_impact": usd, "finding": "x",
                               "explanation": "a long text the trend never reads"} for e, d, usd in found])
        lake.write_day(frame, root, "findings", day, FINDINGS_ARROW)
    whole = lake.read_days(root, "findings", NIGHTS[0], NIGHTS[2])
    want = trend_from_findings(whole, days=list(rows))
    read = []
    real = pipeline._nights_trend
    monkeypatch.setattr(pipeline, "_nights_trend", lambda nights, f: read.append((nights, sorted(f.columns))) or real(nights, f))
    got = pipeline.lake_trend(Settings(lake_root=root), NIGHTS[3])
    pd.testing.assert_frame_equal(got, want)
    assert got["findings"].tolist() == [3, 0, 1] and got["dollar_impact"].tolist() == [12.75, 0.0, -4.0]
    assert read == [(NIGHTS[:3], sorted(TREND_COLUMNS))]  # its columns only


def test_lake_trend_reads_each_night_once_per_process_until_it_is_rewritten(tmp_path, monkeypatch):
    from transforms.outputs.report_html import trend_from_findings
    from transforms.vocab.schemas import FINDINGS_ARROW

    root = tmp_path / "lake"

    def night(day, *found):
        frame = pd.DataFrame([{"encounter_id": e, "direction": "over_billed", "dollar_impact": 1.5, "finding": "x"}
                              for e in found])
        lake.write_day(frame, root, "findings", day, FINDINGS_ARROW)

    read = []
    real = pipeline._nights_trend
    monkeypatch.setattr(pipeline, "_nights_trend", lambda nights, f: read.extend(nights) or real(nights, f))
    night(NIGHTS[0], "A", "B")
    night(NIGHTS[1], "C")
    pipeline.lake_trend(Settings(lake_root=root), NIGHTS[1])
    assert read == NIGHTS[:2]
    night(NIGHTS[2], "D")
    pipeline.lake_trend(Settings(lake_root=root), NIGHTS[2])
    assert read == [*NIGHTS[:2], NIGHTS[2]]  # the new night only
    night(NIGHTS[0], "A")  # a rerun of night 1 replaces its file: read again
    got = pipeline.lake_trend(Settings(lake_root=root), NIGHTS[2])
    assert read == [*NIGHTS[:3], NIGHTS[0]]
    whole = trend_from_findings(lake.read_days(root, "findings", NIGHTS[0], NIGHTS[2]), days=NIGHTS[:3])
    pd.testing.assert_frame_equal(got, whole)
    assert got["findings"].tolist() == [1, 1, 1]


def test_the_window_is_freed_and_handed_back_before_the_audit(lake_root, monkeypatch):
    """The older nights' decoded files are let go before the freed memory is handed back (a
    backfill's every night peaks lower), and the inputs are those of the whole window."""
    windows, released_with_window_alive = [], []
    real_read = lake_window.read_window

    def read_window(*args, **kwargs):  # type: ignore[no-untyped-def]
        window = real_read(*args, **kwargs)
        windows.append(weakref.ref(window))
        return window

    def release() -> None:
        gc.collect()
        released_with_window_alive.append(windows[-1]() is not None)

    monkeypatch.setattr(lake_window, "read_window", read_window)
    monkeypatch.setattr(pipeline, "release_freed_memory", release)
    settings = Settings(lake_root=lake_root, lookback_days=3)
    mar, claims = pipeline.load_day_from_lake(NIGHTS[3], settings)
    assert released_with_window_alive == [False]
    want_mar, want_claims = _whole_window(NIGHTS[3], settings)
    pd.testing.assert_frame_equal(mar, want_mar)
    pd.testing.assert_frame_equal(claims, want_claims)
