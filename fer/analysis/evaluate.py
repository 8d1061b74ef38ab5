"""The full evaluation of a model on PrivateTest (test) or its validation set, or on
another dataset (cross-dataset evaluation).

Writes `metrics.json` and figures into `RUN_DIR/eval/<split>/` (`<split>-tta-<mode>/` with
test-time augmentation; `<dataset>-<split>/` for another dataset). For a sweep directory (e.g.
over `data.cv_fold`) it evaluates every run and reports each metric as mean ± std. Another
dataset's classes are matched to the model's by name: images of classes the model lacks
(contempt) are dropped and counted; classes the model has and the data lacks are left out of
the metrics and listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from fer.analysis.model_ref import RunRef, resolve_run
from fer.analysis.scoring import score_faces
from fer.analysis.wandb_log import log_to_run
from fer.data.hdf5 import DatasetMeta, dataset_meta, read_split
from fer.inference.predictor import Predictor
from fer.io import write_json

SPLITS = {"test": "PrivateTest", "val": "PublicTest"}
SUMMARY_KEYS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "ece",
)


def split_data(
    ref: RunRef, split: str, data: str | None
) -> tuple[np.ndarray, np.ndarray, DatasetMeta]:
    """The images, labels and meta of `split` as the run saw them (its k-fold when it used
    one), or of another dataset's split (its own classes)."""
    path = ref.data_path(data)
    meta = dataset_meta(path)
    cfg = ref.config
    if split == "val" and cfg is not None and OmegaConf.select(cfg, "data.cv_folds"):
        from fer.data.datamodule import fold_indices  # imports Lightning: k-fold runs only

        images, labels = read_split(path, meta.split_for("train"), classes=None)
        _, held_out = fold_indices(labels, cfg.data.cv_folds, cfg.data.cv_fold, cfg.seed)
        return images[held_out], labels[held_out], meta
    return (*read_split(path, meta.split_for(split), classes=None), meta)


def match_classes(
    model: tuple[str, ...], data: tuple[str, ...], labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, int], list[str]]:
    """Data labels in the model's class indices, by name: (kept rows, their labels, images
    dropped per data class the model lacks, model classes the data lacks)."""
    to_model = np.array([model.index(c) if c in model else -1 for c in data])
    mapped = to_model[labels]
    keep = mapped >= 0
    dropped = {c: int((labels == i).sum()) for i, c in enumerate(data) if c not in model}
    lacking = [c for c in model if c not in data]
    return np.flatnonzero(keep), mapped[keep], dropped, lacking


def evaluate(
    model: str | Path | None,
    split: str = "test",
    tta: str | None = None,
    data: str | None = None,
    out: str | None = None,
    log_wandb: bool = True,
) -> dict[str, Any]:
    """Evaluate one model; returns the report written to metrics.json.

    `tta`: none, flip or crops; None: the model's own choice (none for a run's checkpoint)."""
    ref = resolve_run(model)
    images, labels, meta = split_data(ref, split, data)
    predictor = Predictor.load(ref.checkpoint)
    tta = predictor.tta if tta is None else tta
    classes = list(predictor.classes)
    rows, labels, dropped, lacking = match_classes(predictor.classes, meta.classes, labels)
    if not len(rows):
        raise ValueError(
            f"no image of {meta.name} belongs to a class the model knows "
            f"(data: {', '.join(meta.classes)}; model: {', '.join(classes)})"
        )
    images = images[rows]
    covered = [classes.index(c) for c in classes if c not in lacking]
    own = ref.data_path(None)  # the data the run trained on (FER2013 for the shipped model)
    other = data is not None and Path(data).resolve() != own.resolve()
    usage = meta.split_for(split)
    if split == "val" and ref.config is not None and OmegaConf.select(ref.config, "data.cv_folds"):
        usage = "held-out fold"
    name = split if tta == "none" else f"{split}-tta-{tta}"
    out_dir = ref.output_dir("eval", f"{meta.name}-{name}" if other else name, override=out)
    title = f"{meta.name} {usage}" if other else usage
    scored = score_faces(
        predictor, images, labels, out_dir, title, tta, covered if lacking else None
    )
    report, figures = scored.report, scored.figures
    report.update(
        model=str(ref.checkpoint),
        split=split,
        usage=usage,
        dataset=meta.name,
        tta=tta,
        data=str(ref.data_path(data)),
        dropped=dropped,
        classes_not_in_data=lacking,
    )
    write_json(out_dir / "metrics.json", report)
    if log_wandb:
        key = f"eval/{split}" + ("" if tta == "none" else f"_tta_{tta}")
        log_to_run(
            ref.run_dir,
            {f"{key}/{k}": report[k] for k in SUMMARY_KEYS},
            {f"{key}/{name}": path for name, path in figures.items()},
        )
    report["out_dir"] = str(out_dir)
    return report


def format_report(report: dict[str, Any]) -> str:
    where = report["usage"]
    if report.get("dataset", "fer2013") != "fer2013":
        where = f"{report['dataset']} {where}"  # another dataset than FER2013
    lines = [
        f"{where} ({report['n']:,} faces, tta {report['tta']}): "
        f"accuracy {report['accuracy']:.4f}, balanced {report['balanced_accuracy']:.4f}, "
        f"macro F1 {report['f1_macro']:.4f}, weighted F1 {report['f1_weighted']:.4f}, "
        f"ECE {report['ece']:.4f}",
        f"{'class':10} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}",
    ]
    for name, m in report["per_class"].items():
        lines.append(
            f"{name:10} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:7.3f} {m['support']:8,}"
        )
    top = ", ".join(
        f"{c['true']}→{c['predicted']} {c['count']}" for c in report["top_confusions"][:5]
    )
    lines.append(f"most frequent confusions: {top}")
    for name, n in (report.get("dropped") or {}).items():
        lines.append(f"dropped {n:,} faces of {name!r}: a class the model does not know")
    if report.get("classes_not_in_data"):
        lines.append(
            "not in the data, left out of the per-class and macro metrics: "
            + ", ".join(report["classes_not_in_data"])
        )
    return "\n".join(lines)


def summarize(reports: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """mean ± std of each headline metric over runs (e.g. cross-validation folds)."""
    return {
        k: {
            "mean": float(np.mean([r[k] for r in reports])),
            "std": float(np.std([r[k] for r in reports])),
            "n": len(reports),
        }
        for k in SUMMARY_KEYS
    }
