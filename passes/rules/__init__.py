"""Fixed-point rewrite rules as data (`*.rules`), their loader, z3 semantics and prover.

The rewrite engine only ever sees `Rule` objects whose proof obligations `prove` discharged.
"""
