"""Passes over the AST/IR, one module each; installed as ezlang.passes."""
