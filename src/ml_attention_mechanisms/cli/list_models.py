"""``mlattn list-models``: print the model registry."""

from __future__ import annotations

import argparse

from ._base import EXIT_OK, Subcommand


class ListModels(Subcommand):
    name = "list-models"
    help = "list the registered models with their kind and data layout"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern (default: all)")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..models._registry import get_model_entry, list_models

        names = list_models(args.pattern)
        width = max((len(n) for n in names), default=4)
        print(f"{'name':<{width}}  {'output':<9}  {'data':<12}  streamable")
        for name in names:
            e = get_model_entry(name)
            print(
                f"{name:<{width}}  {e.output_kind:<9}  {e.data_kind:<12}  {'yes' if e.streamable else 'no'}"
            )
        return EXIT_OK
