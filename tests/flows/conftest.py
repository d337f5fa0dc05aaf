"""One temporary Prefect server for the flow tests of this session.

Result storage points at a temp folder: the harness isolates the database but
not the result/cache storage (../shared/stack/prefect-gx-notes.md 1.8).
"""

import pytest


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    results = tmp_path_factory.mktemp("prefect-results")
    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: results}):
            yield
