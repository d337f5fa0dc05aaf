"""Orchestration: Prefect flows, the CLI and the composition root.

Telemetry is switched off before Prefect or Great Expectations is imported
anywhere in the process: patient data never leaves the machine, and nothing
here calls the network at run time.
"""

import os

for _name, _value in (
    ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
    ("GX_ANALYTICS_ENABLED", "false"),
    ("DO_NOT_TRACK", "1"),
    ("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false"),
):
    os.environ.setdefault(_name, _value)
