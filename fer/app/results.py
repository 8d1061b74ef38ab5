"""What the web app shows, computed without any web code: a thin layer over Predictor and the
video pipeline, so the app and the command-line tools give the same numbers.

Every function returns a result object with a `message` for the page: bad input (not an image,
a corrupt video, no face) becomes a message, never an exception that would reach the browser.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from fer.checkpoint import load_model, resolve_checkpoint
from fer.inference.classifier import FaceClassifier, FacePrediction
from fer.inference.images import read_image
from fer.inference.overlay import draw
from fer.inference.rows import face_rows, header
from fer.inference.video import VideoError, analyze_video
from fer.io import atomic_path
from fer.io import save_figure as save
from fer.modelinfo import DEFAULT_MODEL


@dataclass
class PhotoResult:
    message: str
    annotated: np.ndarray | None = None  # RGB with boxes and labels
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # fer-predict's CSV rows
    csv: Path | None = None
    chart: Path | None = None  # one bar chart of the seven probabilities per face


@dataclass
class VideoResult:
    message: str
    summary: dict[str, Any] | None = None
    timeline: Path | None = None
    annotated: Path | None = None
    frames_csv: Path | None = None


def analyze_photo(predictor: FaceClassifier, path: str | Path, out_dir: Path) -> PhotoResult:
    """Faces, boxes and probabilities of one photo, with the CSV and the chart in `out_dir`."""
    path = Path(path)
    try:
        image = read_image(path)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return PhotoResult(f"**{path.name}** is not an image that can be read (JPEG, PNG, ...).")
    faces = predictor.predict_image(image)
    rgb = np.asarray(image)
    cols = header(predictor.classes)
    rows = face_rows(path.name, faces, len(predictor.classes))
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{path.stem}.csv"
    with atomic_path(csv_path) as tmp, tmp.open("w", newline="") as f:
        csv.writer(f).writerows([cols, *rows])
    if not faces:
        message = f"No face found in **{path.name}** ({rgb.shape[1]}×{rgb.shape[0]})."
        return PhotoResult(message, rgb, cols, rows, csv_path)
    chart = bars_figure(faces, out_dir / f"{path.stem}_bars.png")
    labels = ", ".join(
        f"face {k}: **{f.label}** ({f.probs.max():.0%})" for k, f in enumerate(faces)
    )
    message = f"{len(faces)} face{'s' * (len(faces) > 1)} found: {labels}."
    return PhotoResult(message, annotate(rgb, faces), cols, rows, csv_path, chart)


def annotate(rgb: np.ndarray, faces: list[FacePrediction]) -> np.ndarray:
    """The photo with each face's box, index, label and confidence bar (as fer-video draws)."""
    import cv2

    classes = faces[0].classes
    drawn = draw(rgb, [(f.box, k, f.probs) for k, f in enumerate(faces)], classes)
    return cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB)


def bars_figure(faces: list[FacePrediction], path: Path) -> Path:
    """One horizontal bar chart of the emotion probabilities per face."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = faces[0].classes
    fig, axes = plt.subplots(
        1, len(faces), figsize=(3.6 * len(faces), 2.8), squeeze=False, sharey=True
    )
    for k, (ax, face) in enumerate(zip(axes[0], faces)):
        top = int(face.probs.argmax())
        colors = ["tab:orange" if i == top else "tab:blue" for i in range(len(classes))]
        ax.barh(classes, face.probs, color=colors)
        for i, p in enumerate(face.probs):
            ax.text(min(p + 0.02, 0.8), i, f"{p:.0%}", va="center", fontsize=8)
        ax.set(xlim=(0, 1), title=f"face {k}: {face.label}")
        ax.invert_yaxis()
    return save(fig, path)


def analyze_clip(
    predictor: FaceClassifier,
    path: str | Path,
    out_dir: Path,
    fps: float = 1.0,
    progress: Any = None,
) -> VideoResult:
    """fer-video's pipeline on one clip; the annotated video as WebM so browsers play it."""
    path = Path(path)
    try:
        summary = analyze_video(
            predictor, path, out_dir, fps=fps, progress=progress, video_format="webm"
        )
    except VideoError as e:
        return VideoResult(f"**{path.name}**: {e}")
    coverage = summary["face_coverage"]
    if summary["dominant_emotion"] is None:
        message = f"No face found in the {summary['frames_sampled']} sampled frames of {path.name}."
    else:
        message = (
            f"**{summary['dominant_emotion']}** dominates {path.name}: "
            f"{summary['frames_sampled']} frames sampled, a face in {coverage:.0%} of them, "
            f"{summary['seconds']:.1f} s."
        )
    annotated = out_dir / "annotated.webm"
    return VideoResult(
        message,
        summary,
        out_dir / "timeline.png",
        annotated if annotated.is_file() else None,
        out_dir / "frames.csv",
    )


def model_card(model: str | None) -> tuple[str, Path | None]:
    """Markdown describing the loaded model, and a confusion-matrix image when there is one."""
    checkpoint = resolve_checkpoint(model)
    if checkpoint == DEFAULT_MODEL:
        card = DEFAULT_MODEL.with_name("MODEL_CARD.md")
        text = card.read_text() if card.is_file() else "The model shipped with fer."
        return text, None
    run_dir = next(
        (d for d in (checkpoint.parent, checkpoint.parent.parent) if (d / ".hydra").is_dir()),
        None,
    )
    _, info = load_model(checkpoint)
    lines = [f"# {checkpoint}", "", f"Classes: {', '.join(info.classes)}.", ""]
    lines += ["Model config:", "", "```", json.dumps(info.model, indent=2), "```"]
    if run_dir is not None and (run_dir / "metrics.json").is_file():
        metrics = json.loads((run_dir / "metrics.json").read_text())
        if metrics.get("status") == "completed":
            lines += [
                "",
                "| split | accuracy | macro F1 |",
                "|---|---|---|",
                f"| PublicTest (selection) | {metrics['val']['acc']:.4f} | "
                f"{metrics['val']['f1_macro']:.4f} |",
                f"| PrivateTest | {metrics['test']['acc']:.4f} | "
                f"{metrics['test']['f1_macro']:.4f} |",
                "",
                f"{metrics['epochs']} epochs, {metrics['wall_time_s'] / 60:.1f} minutes, "
                f"{metrics['params']:,} parameters; recipe in `{run_dir}/.hydra/config.yaml`.",
            ]
    figure = run_dir / "figures" / "confusion_matrix.png" if run_dir else None
    return "\n".join(lines), figure if figure and figure.is_file() else None
