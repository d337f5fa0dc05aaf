"""The rule table: keys of the vocabulary, signals that exist, first match wins,
and the one annotation per audit."""

import pandas as pd
import pytest

import transforms.audit as audit_module
import transforms.findings.compare as compare_module
from tests.builders import TZ, claim_lines, ev, infusion, mar_of
from transforms.audit import run_audit
from transforms.findings.matching import differences, encounter_lines, match_lines
from transforms.findings.rules import DEFAULT_KEY, RULES, Rule, apply_rules, signals
from transforms.reference.drugs import load_drug_reference
from transforms.vocab.findings import FINDING_KEYS
from transforms.vocab.policy import Policy


def empty_signals() -> pd.DataFrame:
    """The signal columns of an empty comparison."""
    lines = match_lines(pd.DataFrame(columns=["encounter_id", "hcpcs", "units", "evidence"]),
                        pd.DataFrame(columns=["encounter_id", "hcpcs", "units", "claim_id"]),
                        pd.DataFrame(columns=["encounter_id", "evidence"]), pd.Series(dtype=object))
    diff = differences(lines)
    facts = pd.DataFrame({c: pd.Series(dtype=bool) for c in (
        "same_site_overlap", "diff_site_overlap", "hyd_overlap", "mixed_bag", "same_drug_bags", "fast_repeat",
        "short_infusion", "pump_start")} | {c: pd.Series(dtype="int64") for c in ("hyd_clock", "hyd_free", "hyd_credited")})
    enc = encounter_lines(diff, lines, pd.DataFrame(columns=["encounter_id", "hcpcs"]),
                          pd.DataFrame(columns=["encounter_id"]))
    return signals(diff, facts, enc, "facility")


def test_every_rule_key_is_in_the_vocabulary():
    assert {r.key for r in RULES} | {DEFAULT_KEY} <= set(FINDING_KEYS)


def test_every_signal_a_rule_names_exists():
    names = set(empty_signals().columns)
    for rule in RULES:
        assert set(rule.when) | set(rule.unless) <= names, rule.key


def test_a_key_appears_in_one_run_of_rules():
    # Repeated keys must be consecutive ("or" of both); otherwise the order is ambiguous.
    keys = [r.key for r in RULES]
    for key in set(keys):
        first, last = keys.index(key), len(keys) - 1 - keys[::-1].index(key)
        assert set(keys[first:last + 1]) == {key}, key


def test_the_setting_rule_comes_first():
    assert RULES[0].key == "facility_only_code_on_professional"
    assert RULES[-1] == Rule("code_not_supported", when=("over",))


def test_first_match_wins_and_default():
    s = pd.DataFrame({"a": [True, True, False], "b": [True, False, False]})
    rules = (Rule("k1", when=("a", "b")), Rule("k2", when=("a",), unless=("b",)), Rule("k3", when=("a",)))
    assert apply_rules(s, rules).tolist() == ["k1", "k2", DEFAULT_KEY]


@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


def test_facility_only_code_is_a_rule_of_the_professional_setting(reference):
    rows = [ev("09:00", "given", "ondansetron"), ev("09:20", "given", "ondansetron")]
    billed = [("96374", 1), ("96376", 1)]
    prof = run_audit(mar_of(*rows), claim_lines("E1", *billed, claim_type="professional", place_of_service="11"),
                     reference, Policy(), TZ).findings
    row = prof[prof["hcpcs"] == "96376"].iloc[0]
    assert (row["finding"], row["severity"], row["setting"]) == (
        "facility_only_code_on_professional", "high", "professional")
    assert row["explanation"].endswith("only the hospital reports a repeat push of the same drug.")
    assert "09:00" in row["evidence"] and "09:20" in row["evidence"]  # the two pushes
    # On the hospital claim the same lines are a repeat push within 30 minutes.
    fac = run_audit(mar_of(*rows), claim_lines("E1", *billed), reference, Policy(), TZ).findings
    assert fac[fac["hcpcs"] == "96376"]["finding"].tolist() == ["repeat_push_within_30_minutes"]


def test_run_audit_annotates_once(reference, monkeypatch):
    calls = []
    real = audit_module.annotate

    def counting(findings, fees=None):
        calls.append(len(findings))
        return real(findings, fees)

    monkeypatch.setattr(audit_module, "annotate", counting)
    monkeypatch.setattr(compare_module, "annotate", counting)
    rows = [infusion("09:00", "09:40", "ceftriaxone"), infusion("09:00", "09:40", "vancomycin", encounter="E2")]
    billed = pd.concat([claim_lines("E1", ("96365", 1), ("96367", 1)),
                        claim_lines("E2", ("96365", 1), claim_type="professional", place_of_service="11")],
                       ignore_index=True)
    f = run_audit(mar_of(*rows), billed, reference, Policy(), TZ).findings
    assert len(calls) == 1 and calls[0] == len(f) > 0
