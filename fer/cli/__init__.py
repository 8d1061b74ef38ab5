"""Command-line tools, one module per tool: thin argparse layers over the library.

`fer-prepare` (prepare), `fer-compare` (compare), `fer-eval` (evaluate), `fer-viz` (visualize),
`fer-report` (report), `fer-predict` (predict), `fer-video` (video), `fer-app` (app) and
`fer-export` (export). No library module imports from here (an import-linter contract in
pyproject.toml): everything a tool does can be called from Python without it.
"""
