"""What every ``mlattn`` subcommand shares: the base class and the error type.

Exit codes (every command): 0 success; 1 the command ran and found a problem it was asked to find;
2 a usage or input error, or an optional extra the command needs is not installed (the message says which
``pip install`` to run). Errors are one line on stderr; ``--debug`` shows the traceback. Every command
takes the global flags (:func:`._arguments.add_global_flags`) before or after its name.
"""

from __future__ import annotations

import argparse
from typing import ClassVar

from .._import_guard import install_command
from ._arguments import add_global_flags

__all__ = ["EXIT_FOUND_PROBLEM", "EXIT_OK", "EXIT_USAGE", "CLIError", "Subcommand"]

EXIT_OK = 0
EXIT_FOUND_PROBLEM = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """An error reported as one line on stderr with an exit code (default 2: usage or input error)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Subcommand:
    """One ``mlattn`` subcommand: ``name``, ``help``, ``extras`` and ``add_arguments``/``run``.

    ``run`` returns the exit code. Subclasses are listed in :data:`cli.main.SUBCOMMANDS`.
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    extras: ClassVar[tuple[str, ...]] = ()  # the optional extras it needs; checked before it runs

    @classmethod
    def required_extras(cls, args: argparse.Namespace) -> tuple[str, ...]:
        """The extras this invocation needs: ``extras`` (a command whose needs depend on its arguments
        overrides this)."""
        return cls.extras

    @classmethod
    def create(cls, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        needs = f" (needs: {install_command(*cls.extras)})" if cls.extras else ""
        parser = subparsers.add_parser(cls.name, help=cls.help, description=cls.help + needs)
        cls.add_arguments(parser)
        add_global_flags(parser, with_defaults=False)
        parser.set_defaults(_command=cls)
        return parser

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments."""

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        raise NotImplementedError
