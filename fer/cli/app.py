"""`fer-app`: serve the web app on this machine (no analytics, no share link, no CDN)."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from fer.cli.options import add_runtime, finite


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fer-app",
        description="Start a local web app: upload a photo or a clip, or use the browser's "
        "webcam, and see each face's emotion probabilities; the Model tab shows the model card. "
        "Everything runs on this machine; nothing is sent anywhere.",
        epilog="example: fer-app --model outputs/cpu_best --port 7860",
    )
    parser.add_argument(
        "--model",
        help="run directory, checkpoint, .safetensors or .onnx (default: the shipped model)",
    )
    add_runtime(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument(
        "--max-upload-mb", type=finite, default=50, help="largest upload accepted, in MB"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where results are written and kept (default: a temporary folder, removed with "
        "each session's page and when the server stops; uploads are always removed)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the network for the live view before serving (torch.compile: 10-20 s "
        "once, then about two thirds of the time a face takes on a CPU)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0:
        parser.error("--max-upload-mb must be positive")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

    # Deferred: torch, Gradio and the model load only once the arguments are known good.
    from fer.inference.loading import ModelLoadError, load_predictor
    from fer.modelinfo import CheckpointError

    try:
        predictor = load_predictor(args.model, args.runtime)
    except (CheckpointError, ModelLoadError, ValueError) as e:
        print(f"fer-app: error: {e}", file=sys.stderr)
        return 1
    if args.compile and hasattr(
        predictor, "compile"
    ):  # torch only; the live view classifies one view of one face a frame (tta none)
        compiled = predictor.compile("none")
        if compiled.compiled:
            print(f"fer-app: compiled in {compiled.compile_seconds:.0f} s", file=sys.stderr)
    try:  # the port must be free: say so in one line rather than in uvicorn's log
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as e:
        print(f"fer-app: error: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    import uvicorn

    from fer.app.server import build_server, workspace

    with workspace(args.work_dir) as space:  # uploads (and temporary results) removed at the end
        server = build_server(
            predictor,
            args.model,
            space,
            host=args.host,
            port=args.port,
            max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        )
        print(f"fer-app: serving on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
        uvicorn.run(server, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
