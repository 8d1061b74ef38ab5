"""fer-predict's CSV rows: one per face found in an image (one empty row for an image without)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the predictor imports torch: not needed to write rows or for --help
    from fer.inference.predictor import FacePrediction


def header(classes: tuple[str, ...]) -> list[str]:
    return ["path", "face", "x1", "y1", "x2", "y2", "det_prob", *classes, "label"]


def face_rows(
    path: str, faces: list[FacePrediction], num_classes: int, scale: float = 1.0
) -> list[list[str]]:
    """The CSV rows of one image (see `header`): one per face, or one empty row if none.
    `scale`: what the boxes are multiplied by, to be in the pixels of the file (an image read
    downscaled, fer.inference.images)."""
    if not faces:
        return [[path, "", "", "", "", "", "", *[""] * num_classes, ""]]
    rows = []
    for k, face in enumerate(faces):
        box = [f"{v * scale:.1f}" for v in face.box] if face.box else [""] * 4
        prob = f"{face.det_prob:.4f}" if face.det_prob is not None else ""
        rows.append([path, str(k), *box, prob, *(f"{p:.6f}" for p in face.probs), face.label])
    return rows
