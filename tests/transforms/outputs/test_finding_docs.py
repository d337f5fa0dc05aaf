"""docs/findings.md is generated from the vocabulary: the committed page equals the rendered text."""

from transforms.outputs.finding_docs import DOCS_PATH, main, render_finding_docs, severity_text
from transforms.vocab.findings import FINDING_KEYS, HIGH, TITLE


def test_committed_page_equals_the_generated_text():
    assert DOCS_PATH.read_text(encoding="utf-8") == render_finding_docs(), (
        "docs/findings.md is stale: run `python -m transforms.outputs.finding_docs`")


def test_page_has_every_key_with_its_title():
    text = render_finding_docs()
    for key in FINDING_KEYS:
        assert f"| `{key}` | {TITLE[key]} |" in text


def test_severity_words_follow_the_rule():
    words = severity_text(["no_administration_charted", "missing_stop_time", "push_missed"])
    assert words["no_administration_charted"] == HIGH
    assert words["missing_stop_time"] == "medium"
    assert words["push_missed"] == "medium on an initial, sequential or concurrent code; low on others"


def test_check_mode(tmp_path, capsys):
    page = tmp_path / "findings.md"
    assert main([str(page), "--check"]) == 1 and not page.exists()
    assert main([str(page)]) == 0 and page.read_text(encoding="utf-8") == render_finding_docs()
    assert main([str(page), "--check"]) == 0
