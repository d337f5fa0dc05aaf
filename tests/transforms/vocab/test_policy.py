"""Policies: profiles, files and overrides, validated."""

import pytest

from transforms.vocab.policy import DEFAULT_POLICY, Policy, load_policy


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


def test_commercial_cpt_profile_changes_line_dates():
    """D2/Ex 37: hydration 23:45-01:20 (95 min). cms_facility dates each unit on
    the day its minute fell (both on day 2); commercial_cpt puts them on the
    start date."""
    from tests.builders import TZ, events, infusion
    from transforms.engine.coding import code_facility
    from transforms.engine.timeline import build_timeline

    frame = events(infusion("23:45", "+1 01:20", "sodium_chloride", "hydration", rate=500))

    def dated(policy):
        lines = code_facility(build_timeline(frame, policy), policy, TZ).expected_lines
        return sorted((str(r.service_date), r.hcpcs, r.units) for r in lines.itertuples())

    assert dated(load_policy("cms_facility")) == [("2026-11-03", "96360", 1), ("2026-11-03", "96361", 1)]
    assert dated(load_policy("commercial_cpt")) == [("2026-11-02", "96360", 1), ("2026-11-02", "96361", 1)]
