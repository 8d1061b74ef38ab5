"""The emotion classes and dataset usages, in FER2013's canonical order."""

# The order of fer2013.csv's integer labels; every file and model in fer uses it.
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# The original challenge's three usages: train, select (validation), report (test).
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
IMAGE_SIZE = 48  # FER2013 faces are 48x48 greyscale


def class_index(name: str) -> int:
    """Index of an emotion name in CLASSES (case-insensitive); ValueError lists the valid ones."""
    try:
        return CLASSES.index(name.lower())
    except ValueError:
        raise ValueError(f"unknown class {name!r}; expected one of: {', '.join(CLASSES)}") from None
