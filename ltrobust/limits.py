"""Bounds shared by the option parsers, the checkpoint checks and the report schema.

A value the report schema would refuse must be refused when it is given, before an audit or a
training run starts, not when its report is written: both sides read these constants, so the
two cannot disagree (the report's field types, :mod:`ltrobust.metrics.fields`, are built from
them; ``tests/test_model_args.py`` checks the shipped JSON Schema's bounds).
Torch-free.
"""

from __future__ import annotations

#: JSON numbers are doubles for most readers: integers beyond 2**53 lose digits
MAX_INT = 2**53

#: the sweep multiplies the logits by 10^-kappa: beyond |kappa| = 100 a float overflows
KAPPA_LIMIT = 100.0
