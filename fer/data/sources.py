"""Readers for the forms FER2013 comes in: the Kaggle zip, its extracted folder, fer2013.csv.

Each reader yields one `Sample` per valid face and one `Invalid` per bad record, so the caller
decides whether a bad record stops the conversion or is skipped. Problems with the source as a
whole (missing, not a zip, wrong CSV header) raise `PrepareError` at once.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from fer.fer2013 import CLASSES, IMAGE_SIZE, USAGES
from fer.preprocess import IMAGE_SUFFIXES

SPLIT_FOLDERS = {"train": "Training", "test": None}  # None: split later into Public/PrivateTest
CSV_HEADER = ["emotion", "pixels", "Usage"]
# The longest CSV line read: a FER2013 record is under 10,000 characters (2,304 pixel values);
# a longer line is refused before it is held in memory whole.
MAX_CSV_LINE = 64 * 1024
# The largest image file read from a zip: a FER2013 face is a 48x48 file of about 2 KB; a member
# over this (what it declares, or what it turns out to inflate to) is refused unread.
MAX_MEMBER_BYTES = 1024 * 1024


class PrepareError(Exception):
    """A problem with the input, reported to the user as one line naming the file."""


@dataclass(frozen=True)
class Sample:
    where: str  # file name (and CSV line) for messages
    usage: str | None  # Training / PublicTest / PrivateTest, or None for an unprefixed test image
    label: int  # index into CLASSES
    pixels: np.ndarray  # uint8 (48, 48)


@dataclass(frozen=True)
class Invalid:
    where: str
    reason: str


Record = Sample | Invalid


@dataclass
class Source:
    records: Iterator[Record]
    size: int  # number of records expected, for the progress bar
    digest: Callable[[], str]  # sha256 of the source; for a folder, complete after reading


def read_source(path: Path) -> Source:
    """Open any supported source as a stream of records."""
    if not path.exists():
        raise PrepareError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))
        )
        digest = hashlib.sha256()
        return Source(_read_folder(path, files, digest), len(files), digest.hexdigest)
    with path.open("rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK"):
        return _open_zip(path)
    if path.suffix.lower() in {".csv", ".gz"} or magic[:2] == b"\x1f\x8b":
        return Source(_read_csv(path), _count_lines(path), lambda: _sha256(path))
    raise PrepareError(
        f"{path}: not a zip, a folder or a CSV (expected the Kaggle fer2013.zip, its extracted "
        "folder, or fer2013.csv[.gz])"
    )


def decode_image(data: bytes) -> np.ndarray:
    """Image file bytes -> uint8 (48, 48) grey; ValueError says what is wrong."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):  # from the header: a bomb is not decoded
                w, h = image.size
                raise ValueError(f"image is {w}x{h}, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
            image.load()
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"unreadable image ({e.__class__.__name__})") from None


def usage_and_label(parts: tuple[str, ...]) -> tuple[str | None, int]:
    """(split folder, class folder, file name) -> (usage or None, label); ValueError if unknown."""
    split, folder, name = parts[-3].lower(), parts[-2].lower(), parts[-1]
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"not under a train/ or test/ folder (found {parts[-3]!r}/)")
    if folder not in CLASSES:
        raise ValueError(
            f"unknown class folder {parts[-2]!r}; expected one of: {', '.join(CLASSES)}"
        )
    prefix = name.split("_", 1)[0]
    usage = prefix if prefix in USAGES else SPLIT_FOLDERS[split]
    return usage, CLASSES.index(folder)


def _image_record(where: str, parts: tuple[str, ...], data: bytes) -> Record:
    try:
        if len(parts) < 3:
            raise ValueError("not inside <train|test>/<emotion>/")
        usage, label = usage_and_label(parts)
        return Sample(where, usage, label, decode_image(data))
    except ValueError as e:
        return Invalid(where, str(e))


def _hidden(rel: PurePosixPath | Path) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in rel.parts)


def _is_image(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _read_folder(root: Path, files: list[Path], digest: hashlib._Hash) -> Iterator[Record]:
    for file in files:
        rel = file.relative_to(root)
        if not _is_image(file.name):
            continue
        try:
            data = file.read_bytes()
        except OSError as e:
            yield Invalid(str(file), f"cannot read ({e.strerror})")
            continue
        digest.update(rel.as_posix().encode() + b"\0" + data)
        yield _image_record(str(file), rel.parts, data)


def _open_zip(path: Path) -> Source:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise PrepareError(f"{path}: not a valid zip file ({e})") from None
    names = sorted(
        i.filename
        for i in archive.infolist()
        if not i.is_dir() and not _hidden(PurePosixPath(i.filename)) and _is_image(i.filename)
    )
    if not names:
        raise PrepareError(f"{path}: the zip holds no images under train/ or test/")

    def records() -> Iterator[Record]:
        with archive:
            for name in names:
                where = f"{path}:{name}"
                try:
                    data = _read_member(archive, name)
                except ValueError as e:
                    yield Invalid(where, str(e))
                    continue
                yield _image_record(where, PurePosixPath(name).parts, data)

    return Source(records(), len(names), lambda: _sha256(path))


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, at most MAX_MEMBER_BYTES of them (a 2 MB zip can inflate to GBs);
    ValueError (one line) for one too large, encrypted, compressed in a way Python cannot read,
    or damaged."""
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise ValueError(f"{info.file_size:,} bytes inflated, over {MAX_MEMBER_BYTES:,}")
    try:
        with archive.open(info) as member:
            data = member.read(MAX_MEMBER_BYTES + 1)
    # RuntimeError: "File ... is encrypted, password required"; NotImplementedError: a
    # compression method zipfile lacks; the others: a damaged member
    except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"cannot read from the zip ({e})") from None
    if len(data) > MAX_MEMBER_BYTES:
        raise ValueError(f"inflates to over {MAX_MEMBER_BYTES:,} bytes")
    return data


def _open_text(path: Path) -> io.TextIOBase:
    with path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return path.open("r", newline="", encoding="utf-8")


def _count_lines(path: Path) -> int:
    try:
        with _open_text(path) as f:  # in chunks: a file of one huge line is no line at all
            lines = sum(chunk.count("\n") for chunk in iter(lambda: f.read(1 << 20), ""))
            return max(lines - 1, 0)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise PrepareError(f"{path}: cannot read as text ({e})") from None


def _read_csv(path: Path) -> Iterator[Record]:
    with _open_text(path) as f:
        reader = csv.reader(_bounded_lines(path, f))
        header = [h.strip() for h in next(reader, [])]
        if header != CSV_HEADER:
            raise PrepareError(
                f"{path}:1: header is {','.join(header)!r}, expected {','.join(CSV_HEADER)!r}"
            )
        while True:
            try:
                row = next(reader, None)
            except csv.Error as e:  # a quoted field over csv's limit (131,072), a NUL byte
                raise PrepareError(f"{path}:{reader.line_num}: not a FER2013 CSV ({e})") from None
            if row is None:
                break
            where = f"{path}:{reader.line_num}"
            if not row:
                continue
            try:
                yield _csv_sample(where, row)
            except ValueError as e:
                yield Invalid(where, str(e))


def _bounded_lines(path: Path, f: io.TextIOBase) -> Iterator[str]:
    """The file's lines, each read with at most MAX_CSV_LINE characters held."""
    number = 0
    while line := f.readline(MAX_CSV_LINE + 1):
        number += 1
        if len(line) > MAX_CSV_LINE:
            raise PrepareError(
                f"{path}:{number}: a line over {MAX_CSV_LINE:,} characters (a FER2013 record "
                "is under 10,000): not a FER2013 CSV"
            )
        yield line


def _csv_sample(where: str, row: list[str]) -> Sample:
    if len(row) != 3:
        raise ValueError(f"expected 3 fields (emotion,pixels,Usage), found {len(row)}")
    emotion, pixels, usage = (field.strip() for field in row)
    if not emotion.isdigit() or not 0 <= int(emotion) < len(CLASSES):
        raise ValueError(f"label {emotion!r} is not an integer from 0 to {len(CLASSES) - 1}")
    if usage not in USAGES:
        raise ValueError(f"unknown Usage {usage!r}; expected one of: {', '.join(USAGES)}")
    values = pixels.split()
    if len(values) != IMAGE_SIZE * IMAGE_SIZE:
        raise ValueError(f"{len(values)} pixel values, expected {IMAGE_SIZE * IMAGE_SIZE}")
    try:
        array = np.array(values, dtype=np.int64)
    except ValueError:
        raise ValueError("pixel values are not all integers") from None
    if array.min() < 0 or array.max() > 255:
        raise ValueError("pixel values outside 0-255")
    return Sample(
        where, usage, int(emotion), array.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
