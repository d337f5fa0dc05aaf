"""Reference data: the drug list, the fee schedule and NCCI/MUE tables.

The shipped tables live in ``tables/`` inside this package and are found with
:mod:`importlib.resources`, so a wheel install works exactly like a checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def tables_dir() -> Path:
    """Folder of the shipped reference tables (``drugs.csv``, fees, ``ncci/``).

    The package is installed as plain files (never zipped), so the traversable
    is a real folder and can be handed to pandas and pyarrow as a path.
    """
    return Path(str(resources.files(__package__).joinpath("tables")))
