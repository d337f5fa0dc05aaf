"""Great Expectations suites (as code) and the one runner that executes them.

Importing this package sets ``GX_ANALYTICS_ENABLED=false`` (unless already
set) before Great Expectations is imported. Import the submodules directly:
``expectations.suites`` (``mar_suite``, ``claims_suite``) and
``expectations.runner`` (``validate_extract``, ``ValidationOutcome``);
``expectations.compact`` groups the rows GX must judge alike, so GX checks one
row per group.
"""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
