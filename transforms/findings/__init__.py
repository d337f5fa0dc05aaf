"""Findings: expected vs billed lines -> keyed, explained, annotated findings.

The modules, in pipeline order:

* :mod:`.matching`: expected vs billed per encounter and code (the diff).
* :mod:`.facts`: per-encounter timeline facts that decide a key.
* :mod:`.rules`: THE ordered declarative table of finding rules.
* :mod:`.explain`: explanation sentences and MAR evidence.
* :mod:`.documentation`: charting findings (missing stop time, drug not classified).
* :mod:`.place_of_service`: physician lines in a facility place of service.
* :mod:`.claim_edits`: NCCI MUE / PTP checks of the claim alone.
* :mod:`.annotate`: direction, severity, dollar impact, once per audit.
* :mod:`.compare`: one setting's comparison, :func:`~.compare.compare`.
"""
