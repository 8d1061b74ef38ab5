"""Reading run directories back: comparison of runs (and later evaluation and reports)."""
