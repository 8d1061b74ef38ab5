"""The `fer-*` console scripts: each imports its tool and runs it, and where a package of an
extra that is not installed is missing, says in one line what to install instead of a traceback.

`pip install fer` is the light install (fer-predict and fer-video on onnxruntime, the Python
API); `fer[train]` adds training, the study tools and the torch runtime; `fer[app]` the web app.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

# tool -> (module in fer.cli, the extra that provides what it needs beyond the light install)
TOOLS = {
    "fer-prepare": ("prepare", "train"),
    "fer-compare": ("compare", "train"),
    "fer-eval": ("evaluate", "train"),
    "fer-viz": ("visualize", "train"),
    "fer-report": ("report", "train"),
    "fer-export": ("export", "train"),
    "fer-predict": ("predict", "train"),
    "fer-video": ("video", "train"),
    "fer-app": ("app", "app"),
}


def run(tool: str, argv: list[str] | None = None) -> int:
    """Run `tool`'s main; a missing third-party package is one line naming the extra."""
    module, extra = TOOLS[tool]
    try:
        main: Callable[..., int] = importlib.import_module(f"fer.cli.{module}").main
        return main(argv)
    except ModuleNotFoundError as e:
        missing = (e.name or "").split(".")[0]
        if not missing or missing == "fer":
            raise
        print(
            f"{tool}: error: this needs {missing}, which the light install leaves out: "
            f"pip install 'fer[{extra}]'",
            file=sys.stderr,
        )
        return 1


def _tool(name: str) -> Callable[[], int]:
    def script() -> int:
        return run(name)

    script.__name__ = script.__qualname__ = name.replace("-", "_")
    script.__doc__ = f"The `{name}` console script."
    return script


prepare = _tool("fer-prepare")
compare = _tool("fer-compare")
evaluate = _tool("fer-eval")
visualize = _tool("fer-viz")
report = _tool("fer-report")
export = _tool("fer-export")
predict = _tool("fer-predict")
video = _tool("fer-video")
app = _tool("fer-app")
