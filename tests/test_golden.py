"""Byte-identical outputs: a files-in/files-out audit of 2,000 synthetic
encounters gives exactly the files the code gave before the refactor
(tests/golden/README.md)."""

from flows.pipeline import audit_files
from flows.settings import Settings
from tests.golden.digests import mismatches
from transforms.synthetic.generator import generate, write_extracts


def test_audit_of_seed3_is_byte_identical(tmp_path):
    paths = write_extracts(generate(seed=3, days=4, encounters_per_day=500), tmp_path / "in")
    audit_files(paths["mar"], paths["claims"], tmp_path / "out", Settings())
    assert mismatches("audit_seed3", tmp_path / "out") == []
