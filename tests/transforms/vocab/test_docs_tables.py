"""The generated tables of docs/ match the code, and cover every column, field and dataset."""

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from transforms.outputs import files, lake
from transforms.vocab import docs_tables as dt
from transforms.vocab import policy, schemas

CONTRACT = dt.REPO_ROOT.parent / "shared" / "spec" / "contract.md"
CODING_RULES = dt.REPO_ROOT.parent / "shared" / "domain" / "coding-rules.md"


def _doc(name: str) -> str:
    return (dt.DOCS_DIR / name).read_text(encoding="utf-8")


def _region(doc: str, name: str) -> str:
    match = re.search(rf"<!-- generated:{name}:start -->\n(.*?)<!-- generated:{name}:end -->", _doc(doc), re.S)
    assert match, f"docs/{doc} has no generated region {name}"
    return match.group(1)


@pytest.mark.parametrize("doc", sorted(dt.DOC_REGIONS))
def test_committed_doc_equals_generated(doc):
    text = _doc(doc)
    assert dt.render_doc(text) == text, (
        f"docs/{doc} differs from the code; run: .venv/bin/python -m transforms.vocab.docs_tables")


@pytest.mark.parametrize("doc", sorted(dt.DOC_REGIONS))
def test_doc_holds_each_of_its_regions_once(doc):
    assert sorted(dt.regions(_doc(doc))) == sorted(dt.DOC_REGIONS[doc])


def test_every_table_is_placed_in_a_doc():
    placed = [name for names in dt.DOC_REGIONS.values() for name in names]
    assert sorted(placed) == sorted(dt.TABLES)


def test_every_contract_column_is_documented():
    for region, columns in (("mar_columns", (*schemas.MAR_COLUMNS, *dt.CONTRACT_ONLY["mar"])),
                            ("claim_columns", (*schemas.CLAIM_COLUMNS, *dt.CONTRACT_ONLY["claims"]))):
        text = _region("inputs.md", region)
        assert [c for c in columns if f"| `{c}` |" not in text] == []
    for c in schemas.MAR_REQUIRED:
        assert re.search(rf"\| `{c}` \| [^|]+ \| yes \|", _region("inputs.md", "mar_columns"))


@pytest.mark.skipif(not CONTRACT.is_file(), reason="shared contract not present")
def test_every_column_of_the_shared_contract_is_documented():
    text = CONTRACT.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)
    for title, region in (("1. MAR", "mar_columns"), ("2. Claim", "claim_columns")):
        body = next(s for s in sections if s.startswith(title))
        columns = re.findall(r"^\| (\w+) \|", body, flags=re.M)
        columns = [c for c in columns if c != "column"]
        assert columns, title
        documented = _region("inputs.md", region)
        assert [c for c in columns if f"| `{c}` |" not in documented] == []


def test_every_policy_field_and_profile_is_documented():
    text = _region("policies.md", "policy_fields")
    assert [f.name for f in dataclasses.fields(policy.Policy) if f"| `{f.name}` |" not in text] == []
    header = text.splitlines()[0]
    assert all(f" {name} |" in header for name in policy.PROFILES)


def test_policy_citations_come_from_the_policy_docstring():
    assert dt.policy_citations("concurrent_min_overlap_minutes") == (["D4"], [])
    assert dt.policy_citations("kvo_max_rate_ml_h") == ([], ["R-G3"])
    for field in dataclasses.fields(policy.Policy):
        if field.name != "name":
            d_numbers, rules = dt.policy_citations(field.name)
            assert d_numbers or rules, f"policy field {field.name} cites no disagreement or rule"


@pytest.mark.parametrize("field, below", [("concurrent_min_overlap_minutes", 0), ("kvo_max_rate_ml_h", -0.5)])
def test_documented_numeric_ranges_are_the_validated_ones(field, below):
    assert field in dt.NUMERIC_RANGES
    with pytest.raises(ValueError, match=field):
        policy.DEFAULT_POLICY.replace(**{field: below})


@pytest.mark.skipif(not CODING_RULES.is_file(), reason="shared coding reference not present")
def test_cited_sections_exist_in_the_coding_reference():
    text = CODING_RULES.read_text(encoding="utf-8")
    assert "## 4. Open questions and disagreements" in text and "## 2. Rules" in text
    assert [t for t in dt.DISAGREEMENTS.values() if f"**{t}" not in text] == []
    assert [t for t in dt.RULE_SECTIONS.values() if f"### {t}" not in text] == []


def test_every_lake_dataset_is_documented():
    assert tuple(dt.DATASET_SCHEMAS) == lake.DATASETS
    text = _region("lake.md", "lake_datasets")
    assert [d for d in lake.DATASETS if f"| `{d}` |" not in text] == []
    for dataset, schema in dt.DATASET_SCHEMAS.items():
        region = _region("lake.md", f"lake_schema_{dataset}")
        names = schema.names if schema is not None else schemas.QUARANTINE_COLUMNS
        assert [c for c in names if f"| `{c}` |" not in region] == [], dataset


def test_every_run_file_and_summary_key_is_documented():
    text = _region("outputs.md", "run_files")
    assert [f for f in (*files.RUN_FILES, dt.UNUSABLE_FILE) if f"`{f}`" not in text] == []
    keys = _region("outputs.md", "summary_keys")
    assert {"policy", "rows", "findings", "set_aside", "score.recall"} <= set(dt.summary_keys())
    assert [k for k in dt.summary_keys() if f"| `{k}` |" not in keys] == []


def test_unusable_file_name_is_the_pipelines():
    pipeline = (dt.REPO_ROOT / "flows" / "pipeline.py").read_text(encoding="utf-8")
    assert f'UNUSABLE_FILE = "{dt.UNUSABLE_FILE}"' in pipeline


def test_exit_codes_read_from_the_epilog_with_continuation_lines(tmp_path):
    source = tmp_path / "cli.py"
    source.write_text('epilog = """usage\n\nexit codes:\n  0  done\n  3  refused:\n     too many rows\n"""\n')
    assert dt.exit_codes(source) == [("0", "done"), ("3", "refused: too many rows")]
    codes = dict(dt.exit_codes())
    assert {"0", "2", "3"} <= set(codes)
    source.write_text("nothing here\n")
    with pytest.raises(ValueError, match="exit codes"):
        dt.exit_codes(source)


def test_time_examples_are_what_the_reader_does():
    text = dt.TABLES["time_examples"]()
    assert "| `2026-11-02T10:02` | `2026-11-02T15:02:00Z` |" in text
    assert "| `2026-03-08T02:30` | quarantined: nonexistent local time |" in text
    assert "| `2026-11-02` | quarantined: not parseable |" in text


def test_render_restores_an_edited_region_and_keeps_the_prose():
    text = _doc("policies.md")
    edited = text.replace("| `missing_stop` |", "| `missing_stopp` |").replace("Coding policies", "Policies")
    rendered = dt.render_doc(edited)
    assert rendered != edited
    assert "| `missing_stop` |" in rendered and "# Policies" in rendered


def test_render_refuses_an_unknown_region():
    with pytest.raises(KeyError, match="no_such_table"):
        dt.render_doc("<!-- generated:no_such_table:start -->\nx\n<!-- generated:no_such_table:end -->\n")


def test_undocumented_column_fails_rendering(monkeypatch):
    monkeypatch.setattr(schemas, "MAR_OPTIONAL", (*schemas.MAR_OPTIONAL, "bag_barcode"))
    with pytest.raises(KeyError, match="bag_barcode"):
        dt.TABLES["mar_columns"]()


def test_check_reports_and_regenerate_fixes_a_stale_doc(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(dt.DOCS_DIR, docs, ignore=shutil.ignore_patterns("*.png"))
    lake_md = docs / "lake.md"
    lake_md.write_text(lake_md.read_text(encoding="utf-8").replace("| `audited_encounters` |", "| `gone` |"),
                       encoding="utf-8")
    assert dt.regenerate(docs, write=False) == [lake_md]
    assert dt.main(["--check", str(docs)]) == 1
    assert dt.main([str(docs)]) == 0
    assert dt.main(["--check", str(docs)]) == 0
    assert lake_md.read_text(encoding="utf-8") == _doc("lake.md")

