"""Policies: profiles, files and overrides, validated."""

import pytest

from transforms.policy import DEFAULT_POLICY, Policy, load_policy


def test_default_is_cms_facility():
    assert load_policy() == DEFAULT_POLICY == Policy()
    assert DEFAULT_POLICY.concurrent_min_overlap_minutes == 16
    assert DEFAULT_POLICY.hydration_aggregation == "encounter"


def test_profile_then_file_then_overrides(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text('[policy]\nhydration_aggregation = "run"\nconcurrent_min_overlap_minutes = 10\n')
    p = load_policy("commercial_cpt", f, {"concurrent_min_overlap_minutes": "5"})
    assert p.name == "commercial_cpt"
    assert p.line_date == "start"
    assert p.hydration_aggregation == "run"
    assert p.concurrent_min_overlap_minutes == 5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"profile": "medicaid"}, "unknown policy profile"),
        ({"overrides": {"colour": "red"}}, "unknown policy key"),
        ({"overrides": {"missing_stop": "guess"}}, "missing_stop"),
        ({"overrides": {"concurrent_min_overlap_minutes": "0"}}, ">= 1"),
    ],
)
def test_bad_policy_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_policy(**kwargs)
