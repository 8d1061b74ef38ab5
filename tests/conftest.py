"""Small FER2013-shaped fixtures made on the fly: CSV, image folder, zip and HDF5."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from fer.data.prepare import convert
from fer.fer2013 import CLASSES, USAGES

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FOLDER_NAMES = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}


def make_faces(per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 48x48 'faces': noise plus a bright band whose row depends on the class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    images = rng.integers(0, 120, size=(len(labels), 48, 48)).astype(np.uint8)
    for image, label in zip(images, labels):
        image[4 + 6 * label : 8 + 6 * label, :] = 230
    return images, labels


def write_csv(path: Path, per_class: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """fer2013.csv with `per_class` faces per class in each usage; returns what it wrote."""
    written = {}
    lines = ["emotion,pixels,Usage"]
    for i, usage in enumerate(USAGES):
        images, labels = make_faces(per_class, seed=i)
        written[usage] = (images, labels)
        lines += [f'{y},"{" ".join(map(str, x.ravel()))}",{usage}' for x, y in zip(images, labels)]
    path.write_text("\n".join(lines) + "\n")
    return written


def image_bytes(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def folder_entries(per_class: int = 3, prefixed: bool = True, fmt: str = "PNG") -> dict[str, bytes]:
    """{relative path: image bytes} in the Kaggle layout (train|test/<emotion>/<Usage>_<n>.ext)."""
    entries = {}
    for i, usage in enumerate(USAGES):
        images, labels = make_faces(per_class, seed=10 + i)
        for n, (x, y) in enumerate(zip(images, labels)):
            name = f"{usage}_{i}{n:04d}" if prefixed else f"{i}{n:04d}"
            ext = "png" if fmt == "PNG" else "jpg"
            entries[f"{FOLDER_NAMES[usage]}/{CLASSES[y]}/{name}.{ext}"] = image_bytes(x, fmt)
    return entries


def write_folder(root: Path, entries: dict[str, bytes]) -> Path:
    for rel, data in entries.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for rel, data in entries.items():
            z.writestr(rel, data)
    return path


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under root."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@contextmanager
def left_unchanged(root: Path, what: str) -> Iterator[None]:
    """Fail the session if a test wrote into, or removed from, a fixture other tests share
    (permissions cannot enforce it: tests may run as root)."""
    before = snapshot(root)
    yield
    after = snapshot(root)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"a test changed the shared {what} {root}: {changed[:5]}"


@pytest.fixture(scope="session")
def tiny_h5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An HDF5 with 16 faces per class in each usage (336 in all). Shared: read it, never write
    next to it."""
    root = tmp_path_factory.mktemp("tiny")
    write_csv(root / "fer2013.csv", per_class=16)
    convert(root / "fer2013.csv", root / "fer2013.h5", progress=False)
    with left_unchanged(root, "tiny dataset"):
        yield root / "fer2013.h5"


QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def compose_config(name: str, tiny_h5, run_dir, *overrides):
    """conf/<name>.yaml on the tiny data, writing into run_dir, quiet, csv-logged."""
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose(
            name,
            overrides=[
                f"data.path={tiny_h5}",
                f"paths.output_dir={run_dir}",
                "logger=csv",
                "data.num_workers=0",
                *QUIET,
                *overrides,
            ],
        )


def config(tiny_h5, run_dir, *overrides):
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"data.path={tiny_h5}",
                f"paths.output_dir={run_dir}",
                "logger=csv",
                "data.batch_size=16",
                "data.num_workers=0",
                *([] if any(o.startswith("model=") for o in overrides) else ["model.width=8"]),
                "trainer.max_epochs=1",
                *QUIET,
                *overrides,
            ],
        )


def read_metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def trained_run(tiny_h5: Path, run_dir: Path, *overrides: str, figures: bool = False) -> Path:
    """Train on the tiny data into run_dir, saving .hydra/config.yaml as Hydra would; the run's
    own figures (seconds of plotting) only with `figures`."""
    from omegaconf import OmegaConf

    from fer.train import run

    cfg = config(
        tiny_h5,
        run_dir,
        "trainer.max_epochs=4",
        "augment=none",
        f"figures={str(figures).lower()}",
        *overrides,
    )
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    OmegaConf.save(list(overrides), run_dir / ".hydra" / "overrides.yaml")
    run(cfg)
    return run_dir


@pytest.fixture(scope="session")
def shared_tiny_run(tiny_h5: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A run directory trained on the tiny data (a few epochs, learns the synthetic classes),
    trained once and shared: for fixtures wider than a test, which only read it."""
    run_dir = trained_run(tiny_h5, tmp_path_factory.mktemp("runs") / "run", figures=True)
    with left_unchanged(run_dir, "run directory"):
        yield run_dir


@pytest.fixture
def tiny_run(shared_tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This test's own copy of the shared run (tools write eval/ and more into a run)."""
    copy = tmp_path_factory.mktemp("run") / "run"
    shutil.copytree(shared_tiny_run, copy)
    return copy


def face_photo() -> Path:
    """A real face photograph that a dependency ships (matplotlib's sample data)."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def make_clip(
    path: Path, seconds: float = 3.0, rate: float = 10.0, faces: int = 1, blank: bool = False
) -> Path:
    """A 640x360 clip: the astronaut (or two) drifting and zooming slightly, or an empty wall."""
    import cv2
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    fourcc = "VP80" if path.suffix == ".webm" else "mp4v"  # WebM plays in browsers too
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), rate, (640, 360))
    for i in range(int(seconds * rate)):
        frame = np.full((360, 640, 3), 90, np.uint8)
        if not blank:
            size = int(300 + 20 * np.sin(i / 5))
            small = cv2.resize(face, (size, size))
            for k in range(faces):
                x = 10 + k * 320 + i % 10
                frame[20 : 20 + size, x : x + size] = small[:, : min(size, 640 - x)]
        writer.write(frame)
    writer.release()
    return path


def make_camera_video(path: Path, rate: int = 15, clip: Path | None = None) -> Path:
    """A .y4m for Chromium's fake camera (640x480), looped by Chromium: `clip` (a real face
    video, letterboxed) when given, an empty wall for 1 s, then the astronaut for 2 s."""
    import cv2
    from skimage import data

    face = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (300, 300))
    frames = []
    if clip is not None:
        cap = cv2.VideoCapture(str(clip))
        step = max(cap.get(cv2.CAP_PROP_FPS) / rate, 1.0)
        for k in range(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)):
            ok, frame = cap.read()
            if not ok:
                break
            if k % step < 1:  # resampled to `rate`
                canvas = np.full((480, 640, 3), 40, np.uint8)
                h, w = min(frame.shape[0], 480), min(frame.shape[1], 640)
                y, x = (480 - h) // 2, (640 - w) // 2
                canvas[y : y + h, x : x + w] = frame[:h, :w]
                frames.append(canvas)
        cap.release()
    frames += [np.full((480, 640, 3), 90, np.uint8)] * rate  # the wall
    for k in range(2 * rate):
        frame = np.full((480, 640, 3), 90, np.uint8)
        x = 120 + 4 * (k % rate)
        frame[90:390, x : x + 300] = face
        frames.append(frame)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W640 H480 F{rate}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path
