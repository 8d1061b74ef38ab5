"""Benchmark the detect → crop → classify pipeline on camera-like photos of held-apart faces.

    python scripts/bench/bench_pipeline.py --data data/fer2013.h5 --split val --n 700 \\
        --out bench/val

Each chosen face (PublicTest for `--split val`, the selection set; PrivateTest for `--split
test`, to report once) is upscaled into a 640×480 photo at a random place, size and small
rotation on a varied background, with exposure, gamma, blur, noise and JPEG changes
(`fer.analysis.camera`, seeded). The photos, their labels and where each face went are written
to `OUT/photos/` and `OUT/labels.csv` (so any tool can be run on them), with face-free photos
in `OUT/empty/`. Then the real pipeline (the Predictor with detection, as fer-predict, fer-video
and fer-app run it) classifies every photo, and the same model classifies the original 48×48
faces directly. Printed: faces found, accuracy through the pipeline (a missed face counts as
wrong), direct accuracy on the same faces, the gap, per-class recall, and false detections on
the face-free photos. To tell where the gap comes from, each face is also cut from its photo at
the exact place it was put (its true frame) and classified: direct − true frame is what the
camera effects and resampling cost, true frame − pipeline is what detection and framing cost.
`OUT/results.json` keeps the numbers. `--tight` makes each photo the
face alone, upscaled to fill it (96-240 px), as face datasets store their crops. `--save-crops`
keeps the crops the model was handed (`OUT/TAG.crops.npz`), so `ship_model.py --pipeline` can
score members through the pipeline without detecting again.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from fer.analysis.camera import (
    Placement,
    camera_effects,
    camera_photo,
    random_background,
    tight_photo,
)
from fer.analysis.detected import placed_face
from fer.analysis.stats import paired_difference
from fer.data.hdf5 import read_split
from fer.fer2013 import CLASSES
from fer.framing import Framing
from fer.inference.predictor import Predictor
from fer.io import atomic_path, write_json
from fer.modelinfo import TTA_MODES

SPLITS = {"val": "PublicTest", "test": "PrivateTest"}
BATCH = 16  # photos per detection batch
JPEG_QUALITY = 95  # the saved photos (camera_effects has already compressed them once)


def build_photos(
    out: Path,
    data: str,
    split: str,
    n: int,
    empty: int,
    seed: int,
    effects: bool = True,
    tight: bool = False,
) -> None:
    """Write OUT/photos/*.jpg, OUT/labels.csv and OUT/empty/*.jpg (kept if already made alike)."""
    manifest = {"data": str(data), "split": split, "n": n, "empty": empty, "seed": seed}
    if not effects:
        manifest["effects"] = False
    if tight:
        manifest["tight"] = True
    make = tight_photo if tight else camera_photo
    if (out / "manifest.json").is_file() and json.loads(
        (out / "manifest.json").read_text()
    ) == manifest:
        return
    images, labels = read_split(data, SPLITS[split])
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(images), min(n, len(images)), replace=False))
    (out / "photos").mkdir(parents=True, exist_ok=True)
    (out / "empty").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, index in enumerate(tqdm(pick, desc="photos", unit="photo")):
        photo, p = make(images[index], rng, effects=effects)
        name = f"{k:05d}_{CLASSES[labels[index]]}.jpg"
        Image.fromarray(photo).save(out / "photos" / name, quality=JPEG_QUALITY)
        rows.append(
            [name, CLASSES[labels[index]], int(index), f"{p.cx:.2f}", f"{p.cy:.2f}"]
            + [f"{p.side:.2f}", f"{math.degrees(p.angle):.2f}"]
        )
    for k in range(empty):
        photo = camera_effects(random_background(rng), rng)
        Image.fromarray(photo).save(out / "empty" / f"{k:05d}.jpg", quality=JPEG_QUALITY)
    with atomic_path(out / "labels.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "index", "cx", "cy", "side", "angle_deg"])
        writer.writerows(rows)
    write_json(out / "manifest.json", manifest)  # last: the folder is complete


def read_photos(folder: Path, names: list[str]) -> list[np.ndarray]:
    return [np.asarray(Image.open(folder / name).convert("RGB")) for name in names]


def run(args: argparse.Namespace) -> dict:
    build_photos(
        args.out, args.data, args.split, args.n, args.empty, args.seed, not args.clean, args.tight
    )
    rows = list(csv.DictReader((args.out / "labels.csv").open()))
    truth = np.array([CLASSES.index(r["label"]) for r in rows])
    places = [
        Placement(
            float(r["cx"]), float(r["cy"]), float(r["side"]), math.radians(float(r["angle_deg"]))
        )
        for r in rows
    ]
    predictor = Predictor.load(args.model)
    if args.pad is not None:
        predictor.detector.pad = args.pad
    tta = predictor.tta if args.tta is None else args.tta  # default: the model's own
    framing = Framing.from_margin(args.margin) if args.margin is not None else predictor.framing
    if args.level_eyes is not None:
        framing = replace(framing, level_eyes=args.level_eyes == "on")
    if args.landmark_crop == "off":
        framing = replace(framing, anchors=None)

    pipeline = np.full(len(rows), -1)  # predicted class through the pipeline; -1: face missed
    placed = np.full(len(rows), -1)  # predicted class of the face cut at its true frame
    extra = 0  # detections that are not the placed face
    kept: dict[str, list[np.ndarray]] = {"pipeline": [], "placed": []}  # model inputs, --save-crops
    for start in tqdm(range(0, len(rows), BATCH), desc="pipeline", unit="batch"):
        batch = rows[start : start + BATCH]
        photos = read_photos(args.out / "photos", [r["file"] for r in batch])
        # As Predictor.predict_images does it, with the detections kept to cut their crops.
        found = predictor.detector.detect_photos(photos)
        probs = predictor.classify_detections(photos, found, tta, framing)
        crops = [places[k].cut(photo) for k, photo in enumerate(photos, start)]
        placed[start : start + len(batch)] = predictor.predict_faces(crops, tta=tta).argmax(1)
        if args.save_crops:
            kept["placed"].append(predictor.preprocess(crops).numpy())
        for k, (photo, faces, face_probs) in enumerate(zip(photos, found, probs), start):
            best = placed_face(faces, places[k])
            extra += len(faces) - (best is not None)
            if best is not None:
                pipeline[k] = int(face_probs[faces.index(best)].argmax())
                if args.save_crops:
                    views = framing.crops(photo, best.box, best.landmarks)
                    kept["pipeline"].append(predictor.preprocess(views).numpy())

    images, _ = read_split(args.data, SPLITS[args.split])
    direct = predictor.predict_faces(images[[int(r["index"]) for r in rows]], tta=tta)
    direct = direct.argmax(1)

    empty_names = sorted(p.name for p in (args.out / "empty").glob("*.jpg"))
    false_empty = 0
    for start in range(0, len(empty_names), BATCH):
        photos = read_photos(args.out / "empty", empty_names[start : start + BATCH])
        false_empty += sum(len(f) for f in predictor.detector.detect_photos(photos))

    found = pipeline >= 0
    if args.save_crops:
        crops_file = args.out / f"{args.tag}.crops.npz"
        save_crops(crops_file, SPLITS[args.split], rows, truth, found, kept, framing)
    gap, gap_low, gap_high = paired_difference(
        direct[found] == truth[found], pipeline[found] == truth[found]
    )
    camera_cost = paired_difference(direct[found] == truth[found], placed[found] == truth[found])
    framing_cost = paired_difference(placed[found] == truth[found], pipeline[found] == truth[found])
    recall = {
        c: float((pipeline[truth == i] == i).mean()) if (truth == i).any() else None
        for i, c in enumerate(CLASSES)
    }
    return {
        "model": str(args.model or "shipped"),
        "split": SPLITS[args.split],
        "photos": len(rows),
        "framing": framing.to_dict(),
        "tta": tta,
        "faces_found": float(found.mean()),
        "pipeline_accuracy": float((pipeline == truth).mean()),
        "pipeline_accuracy_on_found": float((pipeline[found] == truth[found]).mean()),
        "direct_accuracy_on_found": float((direct[found] == truth[found]).mean()),
        "direct_accuracy": float((direct == truth).mean()),
        "gap_on_found": gap,
        "gap_on_found_ci95": [gap_low, gap_high],  # paired bootstrap over the faces found
        "true_frame_accuracy_on_found": float((placed[found] == truth[found]).mean()),
        # The gap in two parts (each with its paired-bootstrap interval): direct - true frame
        # (camera effects, resampling) and true frame - pipeline (detection and framing).
        "camera_cost_on_found": camera_cost[0],
        "camera_cost_on_found_ci95": list(camera_cost[1:]),
        "framing_cost_on_found": framing_cost[0],
        "framing_cost_on_found_ci95": list(framing_cost[1:]),
        "other_detections_in_photos": extra,
        "detections_in_empty_photos": false_empty,
        "empty_photos": len(empty_names),
        "pipeline_recall": recall,
    }


def save_crops(
    path: Path,
    split: str,
    rows: list[dict],
    truth: np.ndarray,
    found: np.ndarray,
    kept: dict[str, list[np.ndarray]],
    framing: Framing,
) -> None:
    """The model's inputs, as it was handed them: for each face found, the crops the pipeline
    cut from its detection (`pipeline`, found × crops a face × S × S, uint8); for every photo,
    the face cut at its true frame (`placed`); the split, the face's row in it (`index`), its
    label and whether it was found. `ship_model.py --pipeline` scores members on them without
    detecting again."""
    placed = np.concatenate(kept["placed"])
    empty = np.zeros((0, framing.crops_per_face, *placed.shape[1:]), np.uint8)  # none found
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez_compressed(
            f,
            pipeline=np.stack(kept["pipeline"]) if kept["pipeline"] else empty,
            placed=placed,
            index=np.array([int(r["index"]) for r in rows]),
            label=truth,
            found=found,
            framing=json.dumps(framing.to_dict()),
            split=split,
        )


def points(r: dict, key: str) -> str:
    """A difference and its interval in accuracy points, e.g. `0.95 [-1.54, 3.38]`."""
    low, high = r[f"{key}_ci95"]
    return f"{100 * r[key]:.2f} points [{100 * low:.2f}, {100 * high:.2f}]"


def report(r: dict) -> str:
    lines = [
        f"{r['photos']} photos of {r['split']} faces; framing {r['framing']}; tta {r['tta']}",
        f"faces found                       {r['faces_found']:.1%}",
        f"pipeline accuracy (miss = wrong)  {r['pipeline_accuracy']:.2%}",
        f"pipeline accuracy, faces found    {r['pipeline_accuracy_on_found']:.2%}",
        f"direct accuracy, same faces       {r['direct_accuracy_on_found']:.2%}",
        f"gap on the faces found            {points(r, 'gap_on_found')}",
        f"true frame accuracy, same faces   {r['true_frame_accuracy_on_found']:.2%}",
        f"  camera cost (direct - true)     {points(r, 'camera_cost_on_found')}",
        f"  framing cost (true - pipeline)  {points(r, 'framing_cost_on_found')}",
        f"direct accuracy, all faces        {r['direct_accuracy']:.2%}",
        f"other detections in the photos    {r['other_detections_in_photos']}",
        f"detections in {r['empty_photos']} face-free photos {r['detections_in_empty_photos']}",
        "pipeline recall: "
        + "  ".join(f"{c} {v:.2f}" for c, v in r["pipeline_recall"].items() if v is not None),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python scripts/bench/bench_pipeline.py --split val --n 700 "
        "--out bench/val",
    )
    parser.add_argument("--data", default="data/fer2013.h5", help="the fer HDF5 file")
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="val",
        help="val = PublicTest (select), test = PrivateTest",
    )
    parser.add_argument("--n", type=int, default=700, help="faces to place (default 700)")
    parser.add_argument("--empty", type=int, default=100, help="face-free photos (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/pipeline"), help="photo folder")
    parser.add_argument(
        "--model", help="run directory, checkpoint or .safetensors (default: shipped)"
    )
    parser.add_argument(
        "--margin", type=float, help="override the model's framing with a margin crop"
    )
    parser.add_argument(
        "--level-eyes", choices=["on", "off"], help="override the framing's eye levelling"
    )
    parser.add_argument(
        "--landmark-crop",
        choices=["on", "off"],
        help="off: the box's crop alone, without the landmarks' second crop (default: the model's)",
    )
    parser.add_argument(
        "--tta",
        choices=TTA_MODES,
        help="test-time augmentation, the same both ways (default: the model's own choice)",
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="photos without camera effects or rotation (to separate framing from image quality)",
    )
    parser.add_argument(
        "--tight",
        action="store_true",
        help="each photo is the face alone, filling it (a tight crop, as datasets store faces)",
    )
    parser.add_argument(
        "--pad",
        type=float,
        help="border of the second search in photos without a face found (default 0.25; 0: off)",
    )
    parser.add_argument("--tag", default="results", help="name of the results file (OUT/TAG.json)")
    parser.add_argument(
        "--save-crops",
        action="store_true",
        help="also write OUT/TAG.crops.npz: the crops handed to the model (pipeline and true "
        "frame), for ship_model.py --pipeline",
    )
    args = parser.parse_args()
    if args.n < 1 or args.empty < 0 or (args.pad is not None and args.pad < 0):
        parser.error("--n must be positive, --empty and --pad non-negative")
    try:
        result = run(args)
    except (OSError, ValueError) as e:
        print(f"bench_pipeline: error: {e}", file=sys.stderr)
        return 1
    write_json(args.out / f"{args.tag}.json", result)
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
