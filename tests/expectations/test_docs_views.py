"""Data-docs views that compile GX's templates once per process render the same pages."""

from __future__ import annotations

from pathlib import Path

from great_expectations.render.view import DefaultJinjaPageView

from expectations.docs_views import SITE_VIEWS, SharedJinjaIndexPageView, SharedJinjaPageView
from expectations.runner import _with_shared_views
from tests.expectations.test_suites import claims_raw, run_claims


def test_views_share_one_environment_per_view_class() -> None:
    first, second = SharedJinjaPageView(), SharedJinjaPageView()
    assert first.env is second.env
    assert SharedJinjaIndexPageView().env is not first.env
    assert isinstance(first, DefaultJinjaPageView)


def test_site_configuration_names_the_shared_views() -> None:
    site = {"class_name": "SiteBuilder", "store_backend": {"base_directory": "/x"},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": 5}}
    out = _with_shared_views({"local_site": site})["local_site"]
    assert out["store_backend"] == site["store_backend"]
    assert out["site_index_builder"]["validation_results_limit"] == 5
    assert out["site_index_builder"]["view"]["class_name"] == "SharedJinjaIndexPageView"
    assert out["site_section_builders"] == SITE_VIEWS["site_section_builders"]


def test_docs_built_twice_in_a_process_are_complete(tmp_path: Path) -> None:
    raw = claims_raw()
    raw.loc[1, "hcpcs"] = "9636"
    pages = []
    for run in ("first", "second"):
        outcome = run_claims(raw, docs_dir=tmp_path / run)
        assert (tmp_path / run / "index.html").is_file()
        pages.append(sorted(p.name for p in (tmp_path / run).rglob("*.html")))
        assert outcome.failures["source_row"].tolist() == [2]
    assert pages[0] == pages[1] and len(pages[0]) >= 3
