"""Ship the default model inside the package: fer/assets/default.safetensors + its card.

    python scripts/release/ship_model.py members/cnn-light-s0 members/cnn-ft-s1 members/cnn-ft-s2 --select

Each MEMBER is a kept model (`members/NAME`: NAME.safetensors and its card NAME.json, from
scripts/release/export_member.py). One member ships as it is; several ship as their ensemble (the mean
of their probabilities, in one file that loads wherever a single model does). `--select` first
chooses, on PublicTest only, the subset of the members with the best accuracy (ties: fewer
members) among those within the size limit (20 MiB); with `--pipeline CROPS_NPZ` the accuracy
is the mean of PublicTest's own faces' and that of the PublicTest faces found in the pipeline
benchmark's photos (`bench_pipeline.py --split val --save-crops`), so the model is chosen for
camera faces too (`--select-tta crops` scores every subset with crops TTA, as it will be used;
`--cache DIR` keeps each member's probabilities, so choosing again after one more member is
trained costs only that member's time),
and the new model is compared with the one it replaces (or `--against MODEL`),
each as used (its own TTA), on PublicTest and through the pipeline, with paired 95% intervals.
The file cuts faces from detections with
FER2013's framing as `fer.framing.FER2013` has it now. The shipped file itself is then
evaluated on PublicTest with and without test-time augmentation (the TTA is chosen there), once
on PrivateTest with the chosen TTA (the only PrivateTest evaluation: candidates are ranked and
shown on PublicTest alone), and timed per face; MODEL_CARD.md and card.json are written beside
it. fer-predict, fer-eval, fer-video and
fer-app use it when --model is omitted.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fer import Predictor
from fer.analysis.evaluate import evaluate
from fer.analysis.stats import paired_difference
from fer.checkpoint import export_ensemble, set_framing, set_tta
from fer.data.hdf5 import DatasetError, read_split
from fer.fer2013 import CLASSES
from fer.framing import FER2013, Framing
from fer.inference.timing import ms_per_face
from fer.io import atomic_path, write_json
from fer.modelinfo import DEFAULT_MODEL, TTA_MODES, CheckpointError
from fer.runtime import hardware

MAX_BYTES = 20 * 1024 * 1024
MAX_MS_PER_FACE = 3.0
# PublicTest with each TTA: the TTA is chosen there. PrivateTest is then evaluated once, for the
# final choice (the shipped file with that TTA): candidates are never scored on it.
SELECTION_EVALS = (
    ("val", "val", "none"),
    ("val_flip", "val", "flip"),
    ("val_crops", "val", "crops"),
)
PRIVATETEST_EVALUATIONS = 1


class Member:
    """A kept model: its weights file and its card."""

    def __init__(self, stem: str | Path) -> None:
        stem = Path(stem)
        stem = stem.with_suffix("") if stem.suffix in (".safetensors", ".json") else stem
        self.path = stem.with_suffix(".safetensors")
        card = stem.with_suffix(".json")
        if not self.path.is_file() or not card.is_file():
            raise FileNotFoundError(
                f"{stem}: expected {self.path.name} and {card.name} (export_member.py)"
            )
        self.card = json.loads(card.read_text())
        self.name = self.card["name"]

    @property
    def total_minutes(self) -> float:
        return self.card.get("total_training_wall_time_s", self.card["training_wall_time_s"]) / 60


class PipelineFaces:
    """PublicTest faces as the pipeline handed them to the model: the crops that
    `bench_pipeline.py --save-crops` cut from the detections in its photos."""

    def __init__(self, path: Path, labels: np.ndarray) -> None:
        with np.load(path) as f:  # no pickle: every array is plain
            if str(f["split"]) != "PublicTest":
                raise ValueError(
                    f"{path}: crops of {f['split']} photos; members are selected on PublicTest "
                    "only (bench_pipeline.py --split val --save-crops)"
                )
            if Framing.from_dict(json.loads(str(f["framing"]))) != FER2013:
                raise ValueError(
                    f"{path}: crops cut with another framing than the shipped model's "
                    "(fer.framing.FER2013); run bench_pipeline.py --save-crops again"
                )
            index, found = f["index"], f["found"]
            if not np.array_equal(f["label"], labels[index]):
                raise ValueError(f"{path}: its labels are not this PublicTest's")
            self.crops, self.labels = f["pipeline"], f["label"][found]
        self.path = path

    def probabilities(self, predictor: Predictor, tta: str = "none") -> np.ndarray:
        """Each face's probabilities, its crops averaged (as Predictor.classify_detections)."""
        n, k = self.crops.shape[:2]
        flat = self.crops.reshape(n * k, *self.crops.shape[2:])
        return predictor.predict_faces(flat, tta=tta).reshape(n, k, -1).mean(1)


class ProbabilityCache:
    """Members' probabilities on a set of faces kept on disk (`--cache DIR`), so that choosing
    again after one more member is trained computes only the new member's. An entry is named by
    the digests of the member's file and of the faces, the TTA and torch's version, and written
    atomically; clear the folder after changing how fer preprocesses faces."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._digests: dict[tuple[Path, int, int], str] = {}

    def probabilities(
        self,
        member: Member,
        faces: np.ndarray,
        tta: str,
        compute: Callable[[Predictor, str], np.ndarray],
    ) -> np.ndarray:
        """`compute(member's predictor, tta)`: the member's probabilities on `faces`, from the
        cache when it has them."""
        if self.folder is None:
            return compute(Predictor.load(member.path), tta)
        stat = member.path.stat()
        file = (member.path, stat.st_mtime_ns, stat.st_size)  # a file rewritten is digested anew
        if file not in self._digests:
            self._digests[file] = _digest(member.path.read_bytes())
        key = _digest(
            f"{self._digests[file]} {_digest(faces.tobytes())} {faces.shape} {tta} "
            f"{torch.__version__}".encode()
        )
        path = self.folder / f"{member.name}-{key[:16]}.npy"
        if path.is_file():
            return np.load(path, allow_pickle=False)
        probs = compute(Predictor.load(member.path), tta)
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.save(f, probs, allow_pickle=False)
        return probs


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def as_used(
    path: Path, images: np.ndarray, labels: np.ndarray, pipeline: PipelineFaces
) -> dict[str, np.ndarray | str]:
    """Which PublicTest faces a model file gets right as tools use it (its own TTA): FER2013's
    faces, and the faces found in the pipeline benchmark's photos as the pipeline cut them."""
    predictor = Predictor.load(path)
    return {
        "tta": predictor.tta,
        "val": predictor.predict_faces(images).argmax(1) == labels,
        "pipeline": pipeline.probabilities(predictor, predictor.tta).argmax(1) == pipeline.labels,
    }


def compare_as_used(new: dict, old: dict) -> dict[str, dict[str, float]]:
    """The new model's accuracy minus the old one's on the same faces, each as used, with
    95% paired-bootstrap intervals; and the mean of the two differences (the --select score)."""
    result: dict[str, dict] = {"tta": {"new": new["tta"], "old": old["tta"]}}
    for key in ("val", "pipeline"):
        difference, low, high = paired_difference(new[key], old[key])
        result[key] = {
            "new": float(new[key].mean()),
            "old": float(old[key].mean()),
            "difference": difference,
            "low": low,
            "high": high,
        }
    result["mean"] = {
        "difference": (result["val"]["difference"] + result["pipeline"]["difference"]) / 2
    }
    return result


def select_members(
    members: list[Member],
    images: np.ndarray,
    labels: np.ndarray,
    max_members: int,
    pipeline: PipelineFaces | None = None,
    tta: str = "none",
    cache: ProbabilityCache | None = None,
) -> tuple[list[Member], list[dict]]:
    """The subset with the best PublicTest accuracy (ties: fewer members); every subset's score.

    With `pipeline`, the score is the mean of the accuracy on PublicTest's own faces and on
    the PublicTest faces found in the benchmark's photos, as the pipeline cut them: a model is
    chosen for the faces it will meet as well as for FER2013's. `tta`: the test-time
    augmentation every subset is scored with (one fixed mode, not a choice per subset).
    `cache`: where members' probabilities are kept between runs."""
    cache = cache or ProbabilityCache(None)
    probs, through = [], []
    for m in tqdm(members, desc="members on PublicTest", unit="member"):
        probs.append(cache.probabilities(m, images, tta, lambda p, t: p.predict_faces(images, t)))
        if pipeline is not None:
            crops = pipeline.crops
            through.append(cache.probabilities(m, crops, tta, pipeline.probabilities))
    scores = []
    for k in range(1, min(max_members, len(members)) + 1):
        for subset in itertools.combinations(range(len(members)), k):
            mean = np.mean([probs[i] for i in subset], axis=0)
            score = {
                "members": [members[i].name for i in subset],
                "tta": tta,
                "val_accuracy": float((mean.argmax(1) == labels).mean()),
            }
            if pipeline is not None:
                mean = np.mean([through[i] for i in subset], axis=0)
                score["pipeline_accuracy"] = float((mean.argmax(1) == pipeline.labels).mean())
                score["score"] = (score["val_accuracy"] + score["pipeline_accuracy"]) / 2
            else:
                score["score"] = score["val_accuracy"]
            scores.append(score)
    best = max(scores, key=lambda s: (s["score"], -len(s["members"])))
    chosen = [m for m in members if m.name in best["members"]]
    return chosen, sorted(scores, key=lambda s: -s["score"])


def write_model(members: list[Member], out: Path) -> None:
    """The members as one model file that cuts faces with FER2013's current framing."""
    if len(members) == 1:
        with atomic_path(out) as tmp:
            shutil.copyfile(members[0].path, tmp)
        set_framing(out, FER2013)
    else:
        export_ensemble([m.path for m in members], out, framing=FER2013)


def chosen_tta(evals: dict) -> str:
    """The TTA mode with the best PublicTest accuracy (ties: the first, i.e. the cheapest)."""
    return max(
        (e for e in evals.values() if e["usage"] == "PublicTest"), key=lambda e: e["accuracy"]
    )["tta"]


def card_markdown(
    members: list[Member],
    evals: dict,
    size: int,
    ms: dict[str, float],
    selection: list[dict],
    best_tta: str,
) -> str:
    test = evals["test"]
    cm = test["confusion_matrix"]
    params = sum(m.card["params"] for m in members)
    what = (
        f"A {params:,}-parameter CNN"
        if len(members) == 1
        else f"An ensemble of {len(members)} CNNs ({params:,} parameters in all; the mean of "
        f"their probabilities)"
    )
    member_rows = "\n".join(
        f"| {m.name} | `{m.card['command']}` | {m.card.get('init_from') or '—'} | "
        f"{m.card['epochs']} | {m.card['training_wall_time_s'] / 60:.1f} | {m.total_minutes:.1f} | "
        f"{m.card['precision']}, {m.card['hardware']} | {m.card['val_accuracy']:.4f} |"
        for m in members
    )
    tta_rows = "\n".join(
        f"| {e['usage']}{' (selection)' if e['usage'] == 'PublicTest' else ''} | {e['tta']} | "
        f"{e['accuracy']:.4f} | {e['balanced_accuracy']:.4f} | {e['f1_macro']:.4f} |"
        for e in evals.values()
    )
    rows = "\n".join(
        f"| {c} | " + " | ".join(str(v) for v in cm[i]) + " |" for i, c in enumerate(CLASSES)
    )
    recall = " | ".join(f"{test['per_class'][c]['recall']:.3f}" for c in CLASSES)
    timing = f"{ms['none']:.2f} ms" + (
        f" ({ms[best_tta]:.2f} ms with its {best_tta} TTA)" if best_tta != "none" else ""
    )
    cut = (
        "once (below)"
        if FER2013.crops_per_face == 1
        else "twice (the box's and the landmarks' crops, below)"
    )
    timing += (
        f";\na face found by detection is cut {cut} and takes {ms['detected']:.2f} ms without TTA"
    )
    crops = (
        "and a second square fitted to\n  the five landmarks; the face is cut once, halfway "
        "between the two squares"
        if FER2013.one_crop
        else "and a second square fitted to\n  the five landmarks, the probabilities of the two "
        "crops averaged"
    )
    through = bool(selection) and "pipeline_accuracy" in selection[0]
    selection_rows = "\n".join(
        f"| {', '.join(s['members'])} | {s['val_accuracy']:.4f} |"
        + (f" {s['pipeline_accuracy']:.4f} | {s['score']:.4f} |" if through else "")
        for s in selection[:8]
    )
    rule = (
        "the mean of their accuracy on PublicTest's faces and on the PublicTest faces found in\n"
        "the pipeline benchmark's photos (`scripts/bench/bench_pipeline.py --save-crops`), as the "
        "pipeline cut them"
        if through
        else "their PublicTest accuracy"
    )
    header = (
        "| members | PublicTest | PublicTest through the pipeline | mean |\n|---|---|---|---|"
        if through
        else "| members | PublicTest accuracy |\n|---|---|"
    )
    tta_used = selection[0].get("tta", "none") if selection else "none"
    scored = "no TTA" if tta_used == "none" else f"each with {tta_used} TTA"
    selection_text = (
        f"""
Members were chosen on PublicTest only (`--select`: every subset of the kept members within
the limits, ranked by {rule}; the best {min(8, len(selection))} of {len(selection)} below, {scored}):

{header}
{selection_rows}
"""
        if selection
        else ""
    )
    return f"""# The default fer model

{what}, for 48×48 grey faces and seven emotions: `fer/assets/default.safetensors`, {size / 1e6:.1f} MB,
safetensors (loads without executing pickled code). Classifying one face takes {timing}
(median, preprocessing included, batch of one, as fer's tools run it: same-shaped members fused
into one grouped network, bf16 where the CPU has it; `scripts/bench/bench_predict.py`) on {hardware()}.

- **Data**: FER2013, each member trained on Training (28,709 faces), checkpoints, members and
  TTA selected on PublicTest (3,589). PrivateTest (3,589) was evaluated for the shipped file
  {PRIVATETEST_EVALUATIONS} time{"s" * (PRIVATETEST_EVALUATIONS > 1)}, with its chosen TTA; no
  candidate was scored on it here. (Each member's own training run also measured PrivateTest at
  its end, `train.py`'s test step: the selection never reads those numbers.)
- **Input**: grey 48×48, pixels / 255, standardised with the mean and std stored in the file.
  `fer-predict`, `fer-video` and `fer-app` detect faces with MTCNN and cut each one as FER2013's
  faces are framed: a square of {FER2013.scale} box sizes, eyes levelled, {crops}
  (`fer/framing.py`; `--margin` overrides with one margin crop).

Members (`members/`: each one's weights and card; a member started from another member's weights
names it under *from*, and its total time includes the parent's):

| member | command | from | epochs | minutes | total minutes | precision, hardware | PublicTest |
|---|---|---|---|---|---|---|---|
{member_rows}
{selection_text}
The shipped model:

| split | TTA | accuracy | balanced accuracy | macro F1 |
|---|---|---|---|---|
{tta_rows}

Test-time augmentation (TTA) is chosen on PublicTest: here **{best_tta}** (crops = 5 shifted
crops × flip), the mode to report on PrivateTest. It is stored in the model file, and
`fer-eval`, `fer-predict`, `fer-video` and `fer-app` use it unless told otherwise (`--tta none`);
live views (`fer-video --live`, the app's webcam) classify every frame without TTA.

Per-class recall on PrivateTest (TTA {test["tta"]}):

| {" | ".join(CLASSES)} |
|{"---|" * len(CLASSES)}
| {recall} |

Confusion matrix on PrivateTest, TTA {test["tta"]} (rows: true, columns: predicted):

| true ↓ predicted → | {" | ".join(CLASSES)} |
|---|{"---|" * len(CLASSES)}
{rows}

Limitations: FER2013 faces are web images of posed and spontaneous expressions, mostly frontal;
disgust has few examples (436 in Training) and low recall; through face detection on camera-like
photos the model loses accuracy (README, "Real photos"); it has not been evaluated across
demographic groups.
"""


def comparison_text(comparison: dict) -> str:
    """The lines ship_model prints comparing the new model with the one it replaces."""
    names = {"val": "PublicTest", "pipeline": "PublicTest through the pipeline"}
    tta = comparison["tta"]
    lines = [
        f"as used (each model's own TTA), new (tta {tta['new']}) vs {comparison['model']} "
        f"(tta {tta['old']}):"
    ]
    for key, name in names.items():
        c = comparison[key]
        lines.append(
            f"  {name:32} {c['new']:.2%} vs {c['old']:.2%}: {100 * c['difference']:+.2f} points "
            f"[{100 * c['low']:+.2f}, {100 * c['high']:+.2f}]"
        )
    lines.append(f"  {'mean of the two':32} {100 * comparison['mean']['difference']:+.2f} points")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "members", nargs="+", help="kept members: members/NAME (or NAME.safetensors)"
    )
    parser.add_argument("--data", default="data/fer2013.h5", help="FER2013 HDF5 file")
    parser.add_argument(
        "--select", action="store_true", help="ship the best subset on PublicTest, not all"
    )
    parser.add_argument(
        "--max-members",
        type=int,
        default=None,
        help="largest subset --select tries (default: as many as the 20 MiB limit allows; "
        "each member adds about 0.4 ms a face)",
    )
    parser.add_argument(
        "--select-tta",
        choices=TTA_MODES,
        default="none",
        help="the TTA --select scores every subset with (default none; crops costs 10x the "
        "time): the mode the model will be used with ranks subsets as they will be used",
    )
    parser.add_argument(
        "--pipeline",
        type=Path,
        metavar="CROPS_NPZ",
        help="PublicTest pipeline crops (bench_pipeline.py --split val --save-crops): --select "
        "ranks subsets by the mean of PublicTest accuracy and accuracy on them, and the new "
        "model is compared with --against on both, each as used",
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="MODEL",
        help="with --pipeline: the model to compare the new one with (default: the file --out "
        "replaces, if any)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="keep each member's --select probabilities here and reuse them: choosing again "
        "after training one more member computes only that member's",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL, help="model file to write")
    parser.add_argument(
        "--timing-faces", type=int, default=200, help="faces timed one by one (default 200)"
    )
    args = parser.parse_args(argv)
    try:
        members = [Member(m) for m in args.members]
        images, labels = read_split(args.data, "PublicTest")
        max_members = max(1, MAX_BYTES // max(m.path.stat().st_size for m in members))
        if args.max_members is not None:
            max_members = max(1, min(max_members, args.max_members))
        selection = []
        if args.against is not None and args.pipeline is None:
            raise ValueError("--against compares the models through the pipeline: give --pipeline")
        if args.select_tta != "none" and not args.select:
            raise ValueError("--select-tta scores the subsets --select tries: give --select")
        if args.cache is not None and not args.select:
            raise ValueError("--cache keeps the probabilities --select computes: give --select")
        pipeline = PipelineFaces(args.pipeline, labels) if args.pipeline else None
        if args.against is not None and not args.against.is_file():
            raise ValueError(f"--against {args.against}: no such model file")
        against = args.against or (args.out if args.out.is_file() else None)
        if args.select:
            members, selection = select_members(
                members,
                images,
                labels,
                max_members,
                pipeline,
                args.select_tta,
                ProbabilityCache(args.cache),
            )
            print(f"selected on PublicTest: {', '.join(m.name for m in members)}")
        # Staged beside the output and moved there with its card only once both are complete:
        # a failure part-way leaves the shipped model and its card as they were.
        staged = args.out.with_name(f".staged-{args.out.name}")
        # Members are FER2013 models: the shipped file cuts faces as fer now fits FER2013's
        # framing (members exported before a refit keep the framing of their day).
        write_model(members, staged)
    except (OSError, CheckpointError, DatasetError, KeyError, ValueError) as e:
        print(f"ship_model: error: {e}", file=sys.stderr)
        return 1
    try:
        ship(args, members, selection, staged, images, labels, pipeline, against)
    finally:
        staged.unlink(missing_ok=True)
    return 0


def ship(
    args: argparse.Namespace,
    members: list[Member],
    selection: list[dict],
    staged: Path,
    images: np.ndarray,
    labels: np.ndarray,
    pipeline: PipelineFaces | None,
    against: Path | None,
) -> None:
    """Time and evaluate the staged model file, then move it to `args.out` with its card.

    With `pipeline`, the staged model and `against` (by default the model it replaces) are
    also compared as each is used, on PublicTest and through the pipeline, and the comparison printed and kept
    in the card: re-shipping is worth it only if the new model is ahead there."""
    size = staged.stat().st_size
    predictor = Predictor.load(staged)
    ms = {"none": ms_per_face(predictor, images, args.timing_faces)}
    crops = predictor.framing.crops_per_face  # what a detected face is cut into
    ms["detected"] = ms_per_face(predictor, images, args.timing_faces, crops=crops)
    if size > MAX_BYTES or ms["none"] > MAX_MS_PER_FACE:
        print(
            f"ship_model: warning: {size / 1e6:.1f} MB, {ms['none']:.2f} ms per face "
            f"(limits {MAX_BYTES / 2**20:.0f} MiB, {MAX_MS_PER_FACE} ms)",
            file=sys.stderr,
        )

    def run(name: str, split: str, tta: str) -> dict:
        return evaluate(
            staged, split, tta, data=args.data, log_wandb=False, out=f"eval/shipped/{name}"
        )

    # the written file itself is evaluated: what ships is what is measured
    evals = {
        name: run(name, split, tta)
        for name, split, tta in tqdm(
            SELECTION_EVALS, desc="PublicTest: choosing the TTA", unit="eval"
        )
    }
    tta = chosen_tta(evals)
    evals["test"] = run("test", "test", tta)  # PrivateTest: once, for the final choice
    set_tta(staged, tta)  # the file's own TTA: what tools use unless told otherwise
    if tta != "none":
        ms[tta] = ms_per_face(Predictor.load(staged), images, args.timing_faces, tta)
    card = {
        "members": [m.card for m in members],
        "selection": selection,
        "bytes": size,
        "tta": tta,
        "ms_per_face": ms["none"],
        "ms_per_face_tta": ms[tta],
        "ms_per_detected_face": ms["detected"],  # every crop of a detected face, no TTA
        "crops_per_detected_face": FER2013.crops_per_face,
        "hardware": hardware(),
        "privatetest_evaluations": PRIVATETEST_EVALUATIONS,
        **{
            name: {
                k: e[k]
                for k in ("accuracy", "balanced_accuracy", "f1_macro", "ece", "n", "tta", "usage")
            }
            | {
                "recall": {c: e["per_class"][c]["recall"] for c in CLASSES},
                "confusion_matrix": e["confusion_matrix"],
            }
            for name, e in evals.items()
        },
    }
    if pipeline is not None:
        new = as_used(staged, images, labels, pipeline)
        card["val_pipeline"] = {"accuracy": float(new["pipeline"].mean()), "tta": tta}
        if against is not None:
            card["against"] = {"model": str(against)} | compare_as_used(
                new, as_used(against, images, labels, pipeline)
            )
            print(comparison_text(card["against"]))
    markdown = card_markdown(members, evals, size, ms, selection, tta)
    # Everything is measured: the card and the model go in place together, the model last.
    write_json(args.out.parent / "card.json", card)
    with atomic_path(args.out.parent / "MODEL_CARD.md") as tmp:
        tmp.write_text(markdown)
    staged.replace(args.out)
    print(
        f"wrote {args.out} ({size / 1e6:.2f} MB, {ms['none']:.2f} ms per face, TTA {tta}: "
        f"{ms[tta]:.2f} ms), MODEL_CARD.md, card.json"
    )
    for e in evals.values():
        print(f"{e['usage']:12} tta {e['tta']:5}: accuracy {e['accuracy']:.4f}")


if __name__ == "__main__":
    sys.exit(main())
