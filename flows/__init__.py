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

# The temporary Prefect server a run starts (no PREFECT_API_URL) gets more than
# Prefect's default to come up: on a busy 2-core machine (a nightly batch
# window, CI) it can need half a minute, and a run that gives up then fails
# with nothing audited. A user's own value wins.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
