"""Fit the framing that turns an MTCNN detection into a crop framed as FER2013's faces are.

    python scripts/experiments/fit_framing.py --data data/fer2013.h5 [--n 2000] [--seed 0]

Training faces (never the test splits) are upscaled into camera-like photos at a known place
(`fer.analysis.camera`, no rotation, so each face keeps its own tilt) and run through the
detector. For each face found, where FER2013's 48×48 frame lies relative to the detected box:
its side in box sizes and its centre offset in box sizes; the eyes' angle; and where the five
landmarks sit in the frame (the anchors of the landmarks' crop). The medians over the first half
are the fit; the second half measures how far each framing's crop lands from the true frame (in
pixels of the 48×48 face): the fit's box crop and landmarks crop against the plain margin crops.

A box is not anatomy: MTCNN's box on a FER2013 face, cut at forehead and chin, may sit
differently on a real photo's full head. `--real VIDEO_OR_PHOTO ...` checks this on real faces:
the side and centre of the crop that models ship with (`fer.framing.FER2013`), in eye distances
(between MTCNN's two eye landmarks), against FER2013's true frame on the held-out Training faces.

    python scripts/experiments/fit_framing.py --real ../shared/video/*.mp4 \\
        ../shared/video/*.flv photo.jpg
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fer.analysis.camera import Placement, place_face, random_background
from fer.data.hdf5 import read_split
from fer.framing import FER2013, Framing, eye_angle
from fer.inference.faces import Face, FaceDetector
from fer.inference.frames import VideoError, sample_frames
from fer.inference.images import read_image
from fer.preprocess import IMAGE_SUFFIXES

BATCH = 16


def measure(faces: np.ndarray, seed: int, detector: FaceDetector) -> list[dict]:
    """The detection matched to each placed face that was found, with its placement."""
    rng = np.random.default_rng(seed)
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


def frame_error(framing: Framing, rows: list[dict], landmarks: bool = False) -> np.ndarray:
    """Per face: centre distance and side difference of the crop from the true frame, in
    pixels of the 48×48 face; of the box's crop, or of the landmarks' one (`landmarks`)."""
    errors = []
    for row in rows:
        face, p = row["face"], row["placement"]
        square = framing.landmark_square(face.landmarks) if landmarks else None
        cx, cy, side, _ = square or framing.square(face.box, face.landmarks)
        unit = 48 / p.side
        errors.append([math.hypot(cx - p.cx, cy - p.cy) * unit, abs(side - p.side) * unit])
    return np.array(errors)


def anchors(rows: list[dict]) -> tuple[tuple[float, float], ...]:
    """Where the five landmarks sit in FER2013's true frame (crop sides from its centre, in the
    face's own axes): the medians over `rows`."""
    points = []
    for row in rows:
        p = row["placement"]
        cos, sin = math.cos(p.angle), math.sin(p.angle)
        d = np.array(row["face"].landmarks) - [p.cx, p.cy]
        points.append(
            np.column_stack([cos * d[:, 0] + sin * d[:, 1], -sin * d[:, 0] + cos * d[:, 1]])
        )
    median = np.median(
        np.array(points) / np.array([[r["placement"].side] for r in rows])[:, None], 0
    )
    return tuple((round(float(x), 3), round(float(y), 3)) for x, y in median)


def in_eye_distances(face: Face, square: tuple[float, ...]) -> tuple[float, float]:
    """A crop square's side and its centre's drop below the eyes' midpoint, both in eye
    distances (the distance between the detection's two eye landmarks)."""
    (lx, ly), (rx, ry) = face.landmarks[0], face.landmarks[1]
    eyes = math.hypot(rx - lx, ry - ly)
    cx, cy, side = square[:3]
    return side / eyes, (cy - (ly + ry) / 2) / eyes


def real_faces(path: Path, detector: FaceDetector, fps: float = 5.0) -> list[Face]:
    """The most confident face of a photo, or of each frame sampled at `fps` from a video."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        images = [np.asarray(read_image(path))]
    else:
        images = [frame.rgb for frame in sample_frames(path, fps)]
    found = detector.detect(images)
    return [max(faces, key=lambda f: f.prob) for faces in found if faces]


def check_real(real: dict[Path, list[Face]], framing: Framing, held_out: list[dict]) -> None:
    """Print where `framing`'s crop falls on real faces (per file), in eye distances, against
    FER2013's true frame on the held-out Training faces."""
    truth = np.array(
        [
            in_eye_distances(r["face"], (r["placement"].cx, r["placement"].cy, r["placement"].side))
            for r in held_out
        ]
    )
    side, drop = np.median(truth, axis=0)
    q = np.percentile(truth, [25, 50, 75], axis=0)
    print("\nin eye distances, median [25%, 75%]        crop side           centre below eyes")
    print(
        f"  FER2013's true frame ({len(truth)} faces)   "
        f"{q[1, 0]:5.2f} [{q[0, 0]:.2f}, {q[2, 0]:.2f}]   "
        f"{q[1, 1]:5.2f} [{q[0, 1]:.2f}, {q[2, 1]:.2f}]"
    )
    for path, faces in real.items():
        if not faces:
            print(f"  {path.name}: no face found")
            continue
        m = np.median([in_eye_distances(f, framing.square(f.box, f.landmarks)) for f in faces], 0)
        off = 100 * (m[0] / side - 1)
        print(
            f"  {path.name[:26]:26} ({len(faces):3} faces)  {m[0]:5.2f} ({off:+.0f}%)"
            f"         {m[1]:5.2f} ({m[1] - drop:+.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/fer2013.h5", help="the fer HDF5 file")
    parser.add_argument("--n", type=int, default=2000, help="Training faces to place")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--real",
        type=Path,
        nargs="*",
        default=[],
        metavar="PATH",
        help="videos or photos of real faces: where FER2013's framing crops them, in eye "
        "distances, against FER2013's true frame",
    )
    args = parser.parse_args()
    real = {}  # the real faces first, so that an unreadable file fails before the fit
    detector = FaceDetector("cpu")
    for path in args.real:
        try:
            real[path] = real_faces(path, detector)
        except VideoError as e:
            parser.error(str(e))
        except (OSError, ValueError) as e:
            parser.error(f"cannot read {path}: {e}")

    images, _ = read_split(args.data, "Training")
    pick = np.random.default_rng(args.seed).choice(len(images), args.n, replace=False)
    rows = measure(images[pick], args.seed, detector)
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
        level_eyes=True,
        anchors=anchors(fit_rows),
    )
    print(f"\nfitted: {fitted}")
    print(f"\ncrop vs true frame on the {len(held_out)} held-out faces, in 48×48 face pixels:")
    print("  framing                          centre (median / 90%)   side (median / 90%)")
    for name, framing in (
        ("margin 0.2 (the old default)", Framing.from_margin(0.2)),
        ("margin 0.0", Framing.from_margin(0.0)),
        ("fitted, box", fitted),
        ("fitted, landmarks", fitted),
    ):
        e = frame_error(framing, held_out, landmarks=name == "fitted, landmarks")
        print(
            f"  {name:32} {np.median(e[:, 0]):5.2f} / {np.percentile(e[:, 0], 90):5.2f}"
            f"           {np.median(e[:, 1]):5.2f} / {np.percentile(e[:, 1], 90):5.2f}"
        )
    if args.real:
        check_real(real, FER2013, held_out)  # the framing models ship with


if __name__ == "__main__":
    main()
