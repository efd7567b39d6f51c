"""The `ezlang` command."""


def main() -> int:
    return 0
