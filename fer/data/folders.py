"""Any labelled face set in class folders, into fer's dataset format.

`DIR/<class>/*` (an evaluation-only set, or split with `split=` fractions, stratified and
seeded) or `DIR/{train,val,test}/<class>/*`. Images of any size or mode are centre-cropped to a
square and stored at `size` pixels, grey (`channels=1`) or RGB (3). Class folder names map to
canonical emotion names through `SYNONYMS` (case-insensitive); others (contempt, ...) stay
classes of their own; `classes` chooses and orders the classes to keep.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fer.data.hdf5 import DatasetMeta
from fer.data.sources import PrepareError
from fer.fer2013 import CLASSES
from fer.inference.images import read_image
from fer.preprocess import IMAGE_SUFFIXES, to_input

SPLIT_NAMES = ("train", "val", "test")
SPLIT_SEED = 0
# Folder names people give emotions -> fer's names. Not synonyms: calm (RAVDESS), contempt.
SYNONYMS = {
    "anger": "angry",
    "angry": "angry",
    "mad": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "neutrality": "neutral",
}


@dataclass
class FolderReport:
    """What the conversion did, for the summary table."""

    counts: dict[str, np.ndarray]  # split -> images per class
    mapped: dict[str, str] = field(default_factory=dict)  # folder name -> class, when renamed
    skipped: Counter = field(default_factory=Counter)  # reason -> images
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one file


def canonical(name: str) -> str:
    """A class folder's name as fer calls the emotion (`Happiness` -> happy); unknown names are
    kept, lower-cased (`Contempt` -> contempt)."""
    key = name.strip().lower()
    return SYNONYMS.get(key, key)


def is_fer2013_folder(root: Path) -> bool:
    """The Kaggle FER2013 folder: train/ and test/ of FER2013's seven class folders, no val/."""
    named = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    if set(named) & set(SPLIT_NAMES) != {"train", "test"}:
        return False
    return all(
        {p.name.lower() for p in named[s].iterdir() if p.is_dir()} <= set(CLASSES)
        for s in ("train", "test")
    )


def face_loader(detector: object, framing: object) -> Callable[[Path, int, int], np.ndarray | None]:
    """A `load` for read_folders that cuts the most confident face out of a photograph, framed
    as inference frames it (the detector and framing of fer-predict); None without a face."""

    def load(path: Path, size: int, channels: int) -> np.ndarray | None:
        rgb = np.asarray(read_image(path))  # upright, bounded as fer-predict reads photos
        faces = detector.detect_photos([rgb])[0]
        if not faces:
            return None
        crop = framing.crop(rgb, faces[0].box, faces[0].landmarks)
        return to_input(crop, size, channels)  # as the Predictor converts a detected face

    return load


def layout(root: Path) -> dict[str, Path]:
    """{split: folder of class folders}: train/val/test when present, else the root as `all`."""
    named = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    splits = {s: named[s] for s in SPLIT_NAMES if s in named}
    return splits or {"all": root}


def parse_fractions(text: str) -> dict[str, float]:
    """`train=0.8,val=0.1,test=0.1` -> {train: 0.8, val: 0.1, test: 0.1}; they must sum to 1."""
    try:
        parts = dict(item.split("=", 1) for item in text.split(","))
        fractions = {k.strip(): float(v) for k, v in parts.items()}
    except ValueError:
        raise PrepareError(f"--split {text!r}: expected e.g. train=0.8,val=0.1,test=0.1") from None
    unknown = set(fractions) - set(SPLIT_NAMES)
    if unknown or any(v < 0 for v in fractions.values()):
        raise PrepareError(f"--split: names are {', '.join(SPLIT_NAMES)} with fractions >= 0")
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise PrepareError(f"--split fractions sum to {sum(fractions.values()):g}, not 1")
    return fractions


def load_image(path: Path, size: int, channels: int) -> np.ndarray:
    """The image centre-cropped to a square, resized to size × size, grey or RGB, uint8. Read as
    fer-predict reads photos: upright, 16-bit grey scaled, over MAX_PIXELS refused, larger sides
    reduced first (a decompression bomb is refused from its header, never decoded)."""
    with read_image(path) as upright:
        image = upright.convert("L" if channels == 1 else "RGB")
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side))
        if side != size:
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def read_folders(
    root: Path,
    size: int = 48,
    channels: int = 1,
    classes: list[str] | None = None,
    split: dict[str, float] | None = None,
    load: Callable[[Path, int, int], np.ndarray] = load_image,
    progress: Callable[[Iterator], Iterator] = lambda it: it,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], DatasetMeta, FolderReport]:
    """Read a class-folder set: ({split: (images, labels)}, meta, report). Raises PrepareError.

    `load` turns a file into pixels (the default crops the centre square; fer-prepare --detect
    passes one that finds the face first)."""
    if channels not in (1, 3):
        raise PrepareError("--channels must be 1 (grey) or 3 (RGB)")
    if not root.is_dir():
        raise PrepareError(f"{root}: no such folder")
    folders = layout(root)
    found: dict[str, list[tuple[Path, str]]] = {s: [] for s in folders}
    report = FolderReport({})
    for split_name, folder in folders.items():
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            name = canonical(class_dir.name)
            if name != class_dir.name:
                report.mapped[class_dir.name] = name
            for file in sorted(class_dir.rglob("*")):
                if file.is_file():
                    found[split_name].append((file, name))
    names = sorted({n for files in found.values() for _, n in files})
    if not names:
        raise PrepareError(f"{root}: no class folders with images (expected DIR/<class>/*)")
    if classes:
        chosen = [canonical(c) for c in classes]
        missing = [c for c in chosen if c not in names]
        if missing:
            raise PrepareError(f"--classes: no folder for {', '.join(missing)} in {root}")
    else:  # fer's order for the emotions it knows, then the others alphabetically
        chosen = [c for c in CLASSES if c in names] + [c for c in names if c not in CLASSES]
    data: dict[str, tuple[list[np.ndarray], list[int]]] = {s: ([], []) for s in folders}
    every = [(s, f, n) for s, files in found.items() for f, n in files]
    for split_name, file, name in progress(iter(every)):
        reason = None
        if name not in chosen:
            reason = f"class {name!r} not chosen by --classes"
        elif file.suffix.lower() not in IMAGE_SUFFIXES:
            reason = f"not an image file ({file.suffix or 'no suffix'})"
        else:
            try:
                pixels = load(file, size, channels)
            except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
                reason = "unreadable image"
            else:
                if pixels is None:
                    reason = "no face found"
        if reason:
            report.skipped[reason] += 1
            report.examples.setdefault(reason, str(file.relative_to(root)))
            continue
        data[split_name][0].append(pixels)
        data[split_name][1].append(chosen.index(name))
    shape = (size, size) if channels == 1 else (size, size, 3)
    arrays = {
        s: (
            np.stack(images) if images else np.zeros((0, *shape), np.uint8),
            np.array(labels, np.int64),
        )
        for s, (images, labels) in data.items()
    }
    if "all" in arrays:
        images, labels = arrays.pop("all")
        arrays = split_stratified(images, labels, split or {"test": 1.0}, len(chosen))
    roles = {s: s for s in arrays}
    meta = DatasetMeta(tuple(chosen), size, channels, tuple(arrays), roles, root.name)
    report.counts = {s: np.bincount(lbl, minlength=len(chosen)) for s, (_, lbl) in arrays.items()}
    return arrays, meta, report


def split_stratified(
    images: np.ndarray, labels: np.ndarray, fractions: dict[str, float], num_classes: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per class, a seeded permutation cut into the fractions (rounded; the last split takes the
    rest), so each split keeps the class proportions."""
    rng = np.random.default_rng(SPLIT_SEED)
    names = [s for s in SPLIT_NAMES if fractions.get(s, 0) > 0]
    picked: dict[str, list[np.ndarray]] = {s: [] for s in names}
    for label in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        start = 0
        for k, s in enumerate(names):
            end = (
                len(members) if k == len(names) - 1 else start + round(fractions[s] * len(members))
            )
            picked[s].append(members[start:end])
            start = end
    out = {}
    for s in names:
        index = np.sort(np.concatenate(picked[s])) if picked[s] else np.zeros(0, np.int64)
        out[s] = (images[index], labels[index])
    return out
