"""Fit the framing that turns an MTCNN detection into a crop framed as FER2013's faces are.

    python scripts/fit_framing.py --data data/fer2013.h5 [--n 2000] [--seed 0]

Training faces (never the test splits) are upscaled into camera-like photos at a known place
(`fer.analysis.camera`, no rotation, so each face keeps its own tilt) and run through the
detector. For each face found, where FER2013's 48×48 frame lies relative to the detected box:
its side in box sizes and its centre offset in box sizes; and the eyes' angle. The medians over
the first half are the fit; the second half measures how far each framing's crop lands from the
true frame (in pixels of the 48×48 face), the fit against the plain margin crops.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from tqdm import tqdm

from fer.analysis.camera import Placement, place_face, random_background
from fer.data.hdf5 import read_split
from fer.framing import Framing, eye_angle
from fer.inference.faces import FaceDetector

BATCH = 16


def measure(faces: np.ndarray, seed: int) -> list[dict]:
    """The detection matched to each placed face that was found, with its placement."""
    rng = np.random.default_rng(seed)
    detector = FaceDetector("cpu")
    rows = []
    for start in tqdm(range(0, len(faces), BATCH), desc="detect", unit="batch"):
        photos, placements = [], []
        for face in faces[start : start + BATCH]:
            placement = Placement(
                float(rng.uniform(150, 490)),
                float(rng.uniform(150, 330)),
                float(rng.uniform(96, 200)),
            )
            photos.append(place_face(face, random_background(rng), placement))
            placements.append(placement)
        for placement, found in zip(placements, detector.detect(photos)):
            hits = [
                f
                for f in found
                if abs((f.box[0] + f.box[2]) / 2 - placement.cx) < placement.side / 2
                and abs((f.box[1] + f.box[3]) / 2 - placement.cy) < placement.side / 2
            ]
            if hits:
                rows.append({"face": hits[0], "placement": placement})
    return rows


def frame_error(framing: Framing, rows: list[dict]) -> np.ndarray:
    """Per face: centre distance and side difference of the crop from the true frame, in
    pixels of the 48×48 face."""
    errors = []
    for row in rows:
        face, p = row["face"], row["placement"]
        cx, cy, side, _ = framing.square(face.box, face.landmarks)
        unit = 48 / p.side
        errors.append([math.hypot(cx - p.cx, cy - p.cy) * unit, abs(side - p.side) * unit])
    return np.array(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/fer2013.h5", help="the fer HDF5 file")
    parser.add_argument("--n", type=int, default=2000, help="Training faces to place")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    images, _ = read_split(args.data, "Training")
    pick = np.random.default_rng(args.seed).choice(len(images), args.n, replace=False)
    rows = measure(images[pick], args.seed)
    print(f"found {len(rows)} of {args.n} faces ({100 * len(rows) / args.n:.1f}%)")
    fit_rows, held_out = rows[: len(rows) // 2], rows[len(rows) // 2 :]

    def ratios(subset: list[dict]) -> np.ndarray:
        out = []
        for row in subset:
            (x1, y1, x2, y2), p = row["face"].box, row["placement"]
            size = ((x2 - x1) + (y2 - y1)) / 2
            out.append(
                [
                    p.side / size,
                    (p.cx - (x1 + x2) / 2) / size,
                    (p.cy - (y1 + y2) / 2) / size,
                    (x2 - x1) / (y2 - y1),
                    math.degrees(eye_angle(row["face"].landmarks)),
                ]
            )
        return np.array(out)

    r = ratios(fit_rows)
    names = [
        "side / box size",
        "centre dx / box size",
        "centre dy / box size",
        "box w / h",
        "eye angle (deg)",
    ]
    print(f"\non {len(fit_rows)} faces (fit half): median [25%, 75%]")
    for name, column in zip(names, r.T):
        q25, q50, q75 = np.percentile(column, [25, 50, 75])
        print(f"  {name:22} {q50:7.3f}  [{q25:7.3f}, {q75:7.3f}]")
    fitted = Framing(
        scale=round(float(np.median(r[:, 0])), 3),
        dx=round(float(np.median(r[:, 1])), 3),
        dy=round(float(np.median(r[:, 2])), 3),
    )
    print(f"\nfitted: {fitted}")
    print(f"\ncrop vs true frame on the {len(held_out)} held-out faces, in 48×48 face pixels:")
    print("  framing                          centre (median / 90%)   side (median / 90%)")
    for name, framing in (
        ("margin 0.2 (the old default)", Framing.from_margin(0.2)),
        ("margin 0.0", Framing.from_margin(0.0)),
        ("fitted", fitted),
    ):
        e = frame_error(framing, held_out)
        print(
            f"  {name:32} {np.median(e[:, 0]):5.2f} / {np.percentile(e[:, 0], 90):5.2f}"
            f"           {np.median(e[:, 1]):5.2f} / {np.percentile(e[:, 1], 90):5.2f}"
        )


if __name__ == "__main__":
    main()
