"""The audit's vocabulary, each term defined once and imported everywhere.

* :mod:`~transforms.vocab.schemas`: the contract's columns and the versioned
  Arrow schemas of the lake.
* :mod:`~transforms.vocab.codes`: CPT/HCPCS codes and code sets, the time
  thresholds, claim settings and places of service.
* :mod:`~transforms.vocab.classes`: drug classes and their ranks, routes and
  unit spellings.
* :mod:`~transforms.vocab.findings`: finding keys, directions and severities.
* :mod:`~transforms.vocab.policy`: the coding policies (one field per open
  disagreement).

Short labels only: no AMA CPT descriptor is reproduced anywhere.
"""
