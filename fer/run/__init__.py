"""One run's life and its directory: the lifecycle that training and pretraining share (lifecycle),
one live process per directory and what a re-run sweep does (directory), the run's name
(naming), its loggers and callbacks, its per-image predictions, and run directories read back
(records)."""
