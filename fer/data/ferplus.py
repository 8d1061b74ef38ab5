"""FER+: Microsoft's relabelling of FER2013 by ten annotators per face (fer2013new.csv, MIT).

The vote file aligns with the original fer2013.csv **by row order only** (its image names drift
from the row numbers, some repeat), so FER+ needs fer2013.csv itself; the Kaggle image folders
have no row order. Rows with an empty image name or with no vote for an emotion (all on
`unknown`/`NF`) are skipped. Each face keeps its FER+ majority label (the paper's rule: drop
single votes, keep the top class when it has more than half of the rest; faces without one are
skipped) over eight classes (FER2013's seven and contempt), and its vote distribution over them,
which `data.targets=soft` trains on (cross-entropy on the distribution: the paper's best mode).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from fer.data.hdf5 import DatasetMeta, write_dataset
from fer.data.sources import Invalid, PrepareError, read_source
from fer.fer2013 import CLASSES, USAGES

VOTE_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
HEADER = ["Usage", "Image name", *VOTE_COLUMNS]
FERPLUS_CLASSES = (*CLASSES, "contempt")
# Vote column -> index in FERPLUS_CLASSES (unknown and NF are not classes).
COLUMN_CLASS = {
    "neutral": 6,
    "happiness": 3,
    "surprise": 5,
    "sadness": 4,
    "anger": 0,
    "disgust": 1,
    "fear": 2,
    "contempt": 7,
}


def read_votes(path: Path) -> list[tuple[str, str, np.ndarray]]:
    """(usage, image name, 10 vote counts) per row, in file order."""
    if not path.is_file():
        raise PrepareError(f"{path}: no such file (the FER+ vote file, fer2013new.csv)")
    rows = []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if header != HEADER:
            raise PrepareError(f"{path}:1: not the FER+ vote file (header {','.join(header)!r})")
        for row in reader:
            if not row:
                continue
            try:
                votes = np.array([int(v) for v in row[2:]], dtype=np.int64)
            except ValueError:
                raise PrepareError(
                    f"{path}:{reader.line_num}: vote counts must be integers"
                ) from None
            if len(votes) != len(VOTE_COLUMNS):
                raise PrepareError(f"{path}:{reader.line_num}: expected {len(HEADER)} fields")
            rows.append((row[0].strip(), row[1].strip(), votes))
    return rows


def emotion_votes(votes: np.ndarray) -> np.ndarray:
    """The eight emotion classes' votes (FERPLUS_CLASSES order) of a row of ten counts."""
    out = np.zeros(len(FERPLUS_CLASSES), np.float64)
    for column, k in COLUMN_CLASS.items():
        out[k] = votes[VOTE_COLUMNS.index(column)]
    return out


def majority(votes: np.ndarray) -> int | None:
    """FER+'s majority label of ten vote counts: single votes dropped, the top class if it has
    more than half of the rest and is an emotion; None otherwise."""
    kept = np.where(votes > 1, votes, 0)
    total = kept.sum()
    if total == 0:
        return None
    top = int(kept.argmax())
    if kept[top] * 2 <= total or VOTE_COLUMNS[top] in ("unknown", "NF"):
        return None
    return COLUMN_CLASS[VOTE_COLUMNS[top]]


def convert_ferplus(
    source: Path, votes_path: Path, output: Path, force: bool = False
) -> tuple[dict[str, np.ndarray], Counter]:
    """fer2013.csv + fer2013new.csv -> an 8-class dataset file with `votes`; returns the counts
    per usage and class, and the skipped rows by reason."""
    if output.exists() and not force:
        raise PrepareError(f"{output}: already exists; pass --force to overwrite it")
    if source.is_dir() or source.suffix.lower() not in (".csv", ".gz"):
        raise PrepareError(
            f"{source}: FER+ needs the original fer2013.csv: its votes align with that file's "
            "rows by order only, and the Kaggle image folders and zip have no row order"
        )
    rows = read_votes(votes_path)
    src = read_source(source)
    records = list(src.records)
    if len(records) != len(rows):
        raise PrepareError(
            f"{source} has {len(records):,} rows and {votes_path} {len(rows):,}: FER+ aligns "
            "them by row order, so they must be the same files' full length"
        )
    kept: dict[str, list[tuple[np.ndarray, int, np.ndarray]]] = {u: [] for u in USAGES}
    skipped: Counter = Counter()
    for record, (usage, name, votes) in zip(records, rows):
        if isinstance(record, Invalid):
            skipped[f"bad fer2013.csv row ({record.reason})"] += 1
            continue
        if usage != record.usage:
            raise PrepareError(
                f"{record.where}: Usage {record.usage} but the vote file says {usage}: "
                "not the same row order (is it the original fer2013.csv?)"
            )
        emotions = emotion_votes(votes)
        label = majority(votes)
        if not name:
            skipped["no image name (not a face)"] += 1
        elif emotions.sum() == 0:
            skipped["no emotion vote (unknown or not a face)"] += 1
        elif label is None:
            skipped["no majority"] += 1
        else:
            kept[usage].append((record.pixels, label, emotions / emotions.sum()))
    if not all(kept.values()):
        raise PrepareError(f"{source}: a usage has no face with a FER+ majority label")
    splits = {
        u: (
            np.stack([p for p, _, _ in kept[u]]),
            np.array([lbl for _, lbl, _ in kept[u]], np.int64),
        )
        for u in USAGES
    }
    votes_by_split = {u: np.stack([v for _, _, v in kept[u]]).astype(np.float32) for u in USAGES}
    meta = DatasetMeta(classes=FERPLUS_CLASSES, name="ferplus")
    write_dataset(output, splits, source.name, src.digest(), meta, votes=votes_by_split)
    counts = {u: np.bincount(splits[u][1], minlength=len(FERPLUS_CLASSES)) for u in USAGES}
    return counts, skipped
