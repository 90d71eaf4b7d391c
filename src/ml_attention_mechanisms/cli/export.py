"""``mlattn export``: write a model as ONNX, TorchScript or a ``torch.export`` program, checked against eager."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .._import_guard import install_command, needs_extra
from ._base import EXIT_FOUND_PROBLEM, EXIT_OK, CLIError, Subcommand


class Export(Subcommand):
    name = "export"
    help = "export a checkpoint or a registered model to ONNX, TorchScript or torch.export, and check it"

    @classmethod
    def required_extras(cls, args: argparse.Namespace) -> tuple[str, ...]:
        return ("export",) if args.format == "onnx" else ()  # TorchScript and torch.export: torch alone

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--checkpoint", type=Path, help="a checkpoint written by `mlattn train`")
        source.add_argument(
            "--model", help="a registered model name (default config; see `mlattn list-models`)"
        )
        parser.add_argument(
            "--format",
            default="onnx",
            choices=("onnx", "torchscript", "torch-export"),
            help=f"default: onnx (needs: {install_command('export')})",
        )
        parser.add_argument("--output", "-o", type=Path, required=True, help="the file to write")
        parser.add_argument("--opset", type=int, default=18, help="ONNX opset (below 18 is written at 18)")
        parser.add_argument(
            "--no-timestamps",
            action="store_true",
            help="export features as the only input (onnx, torch-export)",
        )
        parser.add_argument(
            "--num-assets", type=int, default=None, help="portfolio model: asset count (onnx)"
        )
        parser.add_argument("--atol", type=float, default=1e-4, help="check tolerance (default 1e-4)")
        parser.add_argument("--no-verify", action="store_true", help="skip the check against eager mode")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from torch import nn

        from ..inference._inputs import is_multi_asset, load_model
        from ..inference.export import ExportCheckError, export_model

        source: nn.Module | str | Path = args.checkpoint if args.checkpoint is not None else args.model
        if args.checkpoint is not None and not args.checkpoint.is_file():
            raise CLIError(f"--checkpoint {args.checkpoint}: no such file")
        if args.checkpoint is not None:
            from ..utils._paths import refuse_output_over_input

            refuse_output_over_input("--output", args.output, [("--checkpoint", args.checkpoint)])
        if args.num_assets is not None and args.num_assets < 1:
            raise CLIError(f"--num-assets {args.num_assets}: must be a positive int")
        if not args.atol >= 0:  # NaN too
            raise CLIError(f"--atol {args.atol}: expected a tolerance >= 0")
        if args.format == "onnx":
            with needs_extra("export"):
                import onnx

            newest = int(onnx.defs.onnx_opset_version())
            if not 1 <= args.opset <= newest:
                raise CLIError(
                    f"--opset {args.opset}: expected 18..{newest} (onnx {onnx.__version__}; below 18 is "
                    "written at 18)"
                )
        if args.num_assets is not None:  # only a portfolio model has an asset axis to fix: never ignore it
            model, _ = load_model(source)
            if not is_multi_asset(model):
                raise CLIError(
                    f"--num-assets {args.num_assets}: only for a portfolio (multi-asset) model; "
                    f"{args.checkpoint or args.model} is a {type(model).__name__}"
                )
            source = model
        if args.output.is_dir():
            raise CLIError(f"--output {args.output}: is a directory; expected the file to write")
        kwargs: dict[str, object] = {"verify": not args.no_verify, "atol": args.atol}
        if args.format != "torchscript":
            kwargs["with_timestamps"] = not args.no_timestamps
        if args.format == "onnx":
            kwargs["opset_version"] = args.opset
            kwargs["num_assets"] = args.num_assets
        # onnxscript logs a failed opset conversion with its traceback; the failure is reported below in one line
        logging.getLogger("onnxscript.version_converter").setLevel(logging.ERROR)
        try:
            result = export_model(source, args.output, format=args.format, **kwargs)
        except ExportCheckError as exc:
            raise CLIError(str(exc), EXIT_FOUND_PROBLEM) from exc
        except Exception as exc:
            if not type(exc).__module__.startswith("onnxruntime"):
                raise
            # the check loads the file in onnxruntime: an opset newer than it knows ends here
            with needs_extra("export"):
                import onnxruntime

            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CLIError(
                f"--opset {args.opset}: onnxruntime {onnxruntime.__version__} cannot load the written file "
                f"{args.output} ({first[:160]}); use a lower --opset (18 is the default)"
            ) from exc
        check = (
            "not checked" if result.max_abs_diff is None else f"max |diff| vs eager {result.max_abs_diff:.2e}"
        )
        opset = f", opset {result.opset}" if result.opset is not None else ""
        print(
            f"wrote {result.path} ({result.format}{opset}); inputs {', '.join(result.input_names)}; "
            f"outputs {', '.join(result.output_names)}; {check}"
        )
        return EXIT_OK
