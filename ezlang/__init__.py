"""ezlang: two-party secure computation for EzPC programs."""

__version__ = "0.1.0"
