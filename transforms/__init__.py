"""Pure, typed transforms of the infusion claim audit.

Nothing in this package imports Prefect or Great Expectations: every function
takes and returns pandas DataFrames (or plain values) so it can be tested in
milliseconds and reused by any orchestrator.
"""
