"""Which overrides name an experiment, and the readable run name built from them."""

from __future__ import annotations

# Overrides that say where or how a run was executed rather than what it trains.
EXECUTION_KEYS = (
    "data.path",
    "hydra.",
    "logger",
    "paths.",
    "trainer.enable_",
    "resume",
    "study",  # which part of the reference study a run belongs to, not what it trains
)


def is_axis(key: str) -> bool:
    """True for an override key that describes the experiment (`model.depth`), not its execution."""
    return not key.lstrip("+~").startswith(EXECUTION_KEYS)


def run_name(overrides: list[str]) -> str:
    """A readable run name: `model.depth=4 model.norm=batch` -> `depth=4 norm=batch`."""
    parts = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if is_axis(key):
            parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    return " ".join(parts)
