"""GX data-docs page views that compile their Jinja templates once per process.

GX's views (``DefaultJinjaPageView``, ``DefaultJinjaIndexPageView``) build a
new Jinja ``Environment`` per instance, and every data-docs build makes new
instances, so each build compiles GX's page templates again: about 80 % of
a build's time. These subclasses keep the first instance's environment per
(view class, custom styles, custom views) and hand it to later instances.
The pages are the same: the templates, filters and globals are GX's own
(the views hold no other state). The runner names them in the site's
``site_section_builders`` / ``site_index_builder`` configuration
(:data:`SITE_VIEWS`), GX's documented way to choose a view class.
"""

from __future__ import annotations

import os
import threading
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from great_expectations.render.view import (  # noqa: E402
    DefaultJinjaIndexPageView,
    DefaultJinjaPageView,
)

_ENVIRONMENTS: dict[tuple[type, str | None, str | None], Any] = {}
_LOCK = threading.Lock()


class _SharedEnvironment:
    """Mixin: reuse the Jinja environment (compiled templates) of an earlier instance."""

    env: Any

    def __init__(self, custom_styles_directory: str | None = None,
                 custom_views_directory: str | None = None) -> None:
        key = (type(self), custom_styles_directory, custom_views_directory)
        with _LOCK:
            shared = _ENVIRONMENTS.get(key)
            if shared is None:
                super().__init__(custom_styles_directory, custom_views_directory)  # type: ignore[call-arg]
                _ENVIRONMENTS[key] = self.env
                return
        self.custom_styles_directory = custom_styles_directory
        self.custom_views_directory = custom_views_directory
        self.env = shared


class SharedJinjaPageView(_SharedEnvironment, DefaultJinjaPageView):
    """``DefaultJinjaPageView`` with templates compiled once per process."""


class SharedJinjaIndexPageView(_SharedEnvironment, DefaultJinjaIndexPageView):
    """``DefaultJinjaIndexPageView`` with templates compiled once per process."""


def _view(cls: type) -> dict[str, str]:
    return {"module_name": __name__, "class_name": cls.__name__}


#: What the runner merges into its data-docs site configuration.
SITE_VIEWS: dict[str, Any] = {
    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": _view(SharedJinjaIndexPageView)},
    "site_section_builders": {
        section: {"view": _view(SharedJinjaPageView)} for section in ("expectations", "validations", "profiling")
    },
}
