"""Fixed-point rewrite rules as data (`*.rules`), their loader, z3 semantics, prover and proof
certificate.

The rewrite engine (ezlang.passes.rewrite) only ever applies `Rule` objects whose current text the
certificate records as proved by `prove` (`ezlang verify-rules --write-certificate`).
"""
