"""EzPC libraries shipped with ezlang: the Athos tensor API's declarations and reference code."""
