"""The ``mlattn`` command-line tool."""

__all__: list[str] = []
