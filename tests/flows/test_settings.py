"""Settings own their serialisation: every field travels to a served deployment
and back, and every field is part of a backfill day's cache key.

The tests walk ``dataclasses.fields``: a field added later without a variant
here, or one that does not round-trip or does not change the key, fails them.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

import pytest

from flows.backfill import day_cache_key
from flows.deploy import build_deployments
from flows.settings import EXECUTION_FIELDS, Settings
from transforms.reference import tables_dir
from transforms.vocab.policy import Policy

DAY = date(2026, 11, 2)


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    """Real reference files to point the settings at, two of each."""
    out = {}
    for n in (1, 2):
        drugs = tmp_path / f"drugs{n}.csv"
        drugs.write_text(f"drug_key,drug_class,hormonal,group,names,note\nmy_drug_{n},therapeutic,false,x,my drug {n},\n")
        fees = tmp_path / f"fees{n}.csv"
        shutil.copy(tables_dir() / "fee_schedule_sample.csv", fees)
        ncci = tmp_path / f"ncci{n}"
        shutil.copytree(tables_dir() / "ncci", ncci)
        payers = tmp_path / f"payers{n}.csv"
        payers.write_text(f"payer_id,policy_profile\nPAYER0{n},commercial_cpt\n")
        out |= {f"drugs{n}": drugs, f"fees{n}": fees, f"ncci{n}": ncci, f"payers{n}": payers}
    (out["fees2"]).write_text(out["fees2"].read_text() + "\n")
    (out["ncci2"] / "extra.txt").write_text("x\n")
    return out


def _base(tmp_path: Path, files: dict[str, Path]) -> Settings:
    return Settings(lake_root=(tmp_path / "lake").resolve(), facility_tz="America/Chicago",
                    policy=Policy(), drug_list=files["drugs1"], lookback_days=7,
                    fee_schedule=files["fees1"], ncci_dir=files["ncci1"], payer_map=files["payers1"])


def _variants(tmp_path: Path, files: dict[str, Path]) -> dict[str, object]:
    """Another value for every Settings field."""
    return {
        "lake_root": (tmp_path / "other-lake").resolve(),
        "facility_tz": "Pacific/Honolulu",
        "policy": Policy(name="commercial_cpt", line_date="start"),
        "payer_map": files["payers2"],
        "drug_list": files["drugs2"],
        "lookback_days": 3,
        "fee_schedule": files["fees2"],
        "ncci_dir": files["ncci2"],
        "mar_format": "fhir",
        "claims_format": "x12",
        "x12_account_ref": "REF[D9]",
        "max_quarantine_share": 0.25,
        "shard_encounters": 7,
        "audit_processes": 3,
        "dask_address": "tcp://10.0.0.5:8786",
    }


POLICY_VARIANTS = {
    "name": "commercial_cpt",
    "concurrent_min_overlap_minutes": 31,
    "extra_concurrent": "sequential",
    "hydration_aggregation": "run",
    "missing_stop": "push",
    "line_date": "start",
    "electrolyte_in_fluid": "therapeutic",
    "kvo_max_rate_ml_h": 50.0,
    "repeat_infusion": "repeat_push",
    "concurrent_chemo": "concurrent",
    "infusion_over_chemo_push": "concurrent",
    "hydration_min_volume_ml": 250.0,
    "separate_visit_modifier": "XE",
}


def test_every_settings_field_round_trips_and_changes_the_cache_key(tmp_path, files):
    base = _base(tmp_path, files)
    variants = _variants(tmp_path, files)
    names = [f.name for f in dataclasses.fields(Settings)]
    assert sorted(variants) == sorted(names), "give every Settings field a variant here"
    assert Settings.from_params(base.to_params()) == base
    keys = {"base": repr(base.cache_key_parts())}
    for name in names:
        changed = base.with_(**{name: variants[name]})
        assert Settings.from_params(changed.to_params()) == changed, name
        if name in EXECUTION_FIELDS:  # how a run executes, not what it writes: same key
            assert repr(changed.cache_key_parts()) == keys["base"], name
        else:
            keys[name] = repr(changed.cache_key_parts())
    assert len(set(keys.values())) == len(keys), "a field does not change the cache key"
    # Each has its same-bytes test: tests/flows/test_shards.py (shards, forked processes), tests/flows/test_dask.py.
    assert EXECUTION_FIELDS == {"shard_encounters", "audit_processes", "dask_address"}, "an execution field needs a same-bytes test"


def test_every_policy_field_round_trips_and_changes_the_cache_key(tmp_path, files):
    base = _base(tmp_path, files)
    names = [f.name for f in dataclasses.fields(Policy)]
    assert sorted(POLICY_VARIANTS) == sorted(names), "give every Policy field a variant here"
    keys = {repr(base.cache_key_parts())}
    for name in names:
        changed = base.with_(policy=dataclasses.replace(base.policy, **{name: POLICY_VARIANTS[name]}))
        assert Settings.from_params(changed.to_params()) == changed, name
        keys.add(repr(changed.cache_key_parts()))
    assert len(keys) == len(names) + 1


def test_a_file_edited_in_place_changes_the_key(tmp_path, files):
    base = _base(tmp_path, files)
    before = base.cache_key_parts()
    (files["ncci1"] / "MCR_MUE_PractitionerServices_FIXTURE.csv").write_text("edited\n")
    files["fees1"].write_text(files["fees1"].read_text() + "\n")
    files["payers1"].write_text(files["payers1"].read_text() + "PAYER09,cms_facility\n")
    after = base.cache_key_parts()
    assert after["ncci_dir"] != before["ncci_dir"] and after["fee_schedule"] != before["fee_schedule"]
    assert after["payer_map"] != before["payer_map"]


def test_deployment_parameters_carry_fees_and_ncci_tables(tmp_path, files):
    """Defect fixed: a served run used the sample fees and no NCCI edits."""
    settings = _base(tmp_path, files)
    nightly, adhoc = build_deployments(tmp_path / "extracts", settings)
    for deployment in (nightly, adhoc):
        served = Settings.from_params(deployment.parameters["settings"])
        assert served.fee_schedule == files["fees1"].resolve()
        assert served.ncci_dir == files["ncci1"].resolve()
        assert served == settings


def test_backfill_cache_key_follows_fee_schedule_and_ncci_tables(tmp_path, files):
    """Defect fixed: cached days went stale when fee or edit tables changed."""
    mar, claims = tmp_path / "mar.csv", tmp_path / "claims.csv"
    mar.write_text("m\n")
    claims.write_text("c\n")
    settings = _base(tmp_path, files)

    def key(s: Settings) -> str:
        return day_cache_key(DAY, mar, claims, s, tmp_path / "runs" / DAY.isoformat())

    base = key(settings)
    assert key(settings.with_(fee_schedule=files["fees2"])) != base
    assert key(settings.with_(ncci_dir=files["ncci2"])) != base
    assert key(settings.with_(ncci_dir=None)) != base
    assert key(settings) == base


def test_from_params_rejects_unknown_and_falls_back_to_the_environment(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="unknown settings parameters"):
        Settings.from_params({"lake_root": "x", "colour": "red"})
    monkeypatch.setenv("INFUSION_AUDIT_LAKE", str(tmp_path / "env-lake"))
    assert Settings.from_params(None).lake_root == tmp_path / "env-lake"


def test_run_dir_and_results_dir_sit_beside_the_lake(tmp_path):
    settings = Settings(lake_root=tmp_path / "lake")
    assert settings.run_dir(DAY) == tmp_path / "runs" / "2026-11-02"
    assert settings.results_dir == tmp_path / ".prefect-results"


def test_max_quarantine_share_from_env_params_and_range(monkeypatch):
    assert Settings().max_quarantine_share == 0.05
    monkeypatch.setenv("INFUSION_AUDIT_MAX_QUARANTINE_SHARE", "0.2")
    assert Settings.from_env().max_quarantine_share == 0.2
    assert Settings.from_params({"max_quarantine_share": "1"}).max_quarantine_share == 1.0
    for bad in (-0.01, 1.5, float("nan")):
        with pytest.raises(ValueError, match="max_quarantine_share"):
            Settings(max_quarantine_share=bad)
    with pytest.raises(ValueError, match="max_quarantine_share"):
        Settings.from_params({"max_quarantine_share": "lots"})
    monkeypatch.setenv("INFUSION_AUDIT_MAX_QUARANTINE_SHARE", "5")
    with pytest.raises(ValueError, match="max_quarantine_share"):
        Settings.from_env()


def test_payer_map_from_the_environment_and_the_cli_and_a_bad_one_refused(monkeypatch, tmp_path, capsys):
    from flows.cli import _settings, build_parser, main

    env_map, cli_map, bad_map = (tmp_path / f"{n}.csv" for n in ("env", "cli", "bad"))
    env_map.write_text("payer_id,policy_profile\nACME01,commercial_cpt\n")
    cli_map.write_text("payer_id,policy_profile\n*,commercial_cpt\n")
    bad_map.write_text("payer_id,policy_profile\nACME01,cpt_literal\n")
    monkeypatch.setenv("INFUSION_AUDIT_PAYER_MAP", str(env_map))
    assert Settings.from_env().payer_map == env_map
    audit = ["audit", "--mar", "m.csv", "--claims", "c.csv", "--out", str(tmp_path / "out")]
    assert _settings(build_parser().parse_args(audit)).payer_map == env_map
    assert _settings(build_parser().parse_args([*audit, "--payer-map", str(cli_map)])).payer_map == cli_map
    assert main([*audit, "--payer-map", str(bad_map)]) == 2
    assert f"{bad_map}: row 1: unknown policy profile 'cpt_literal'" in capsys.readouterr().err


def test_processes_from_the_environment_and_the_cli(monkeypatch, tmp_path):
    from flows.cli import _settings, build_parser

    monkeypatch.setenv("INFUSION_AUDIT_PROCESSES", "3")
    audit = ["audit", "--mar", "m.csv", "--claims", "c.csv", "--out", str(tmp_path / "out")]
    assert _settings(build_parser().parse_args(audit)).audit_processes == 3
    assert _settings(build_parser().parse_args([*audit, "--processes", "1"])).audit_processes == 1
    for bad in ("0", "-2", "1.5", "two"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*audit, "--processes", bad])
