"""Command-line tools: thin argparse layers over the library (new tools live here)."""
