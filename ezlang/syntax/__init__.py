"""Surface syntax: the AST and the parser."""
