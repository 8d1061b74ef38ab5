"""Distillation targets: mixed rows are distributions, the teacher's share is its predictions,
and the file they go into trains with data.targets=soft."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from fer import Predictor
from fer.data.distill import mix_targets, soften
from fer.data.hdf5 import read_split, read_votes

from conftest import REPO, read_metrics, trained_run


def test_soften_keeps_the_order_and_flattens_with_temperature():
    probs = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9]])
    assert np.allclose(soften(probs, 1.0), probs)
    hot = soften(probs, 4.0)
    assert np.allclose(hot.sum(1), 1)
    assert (hot.argmax(1) == probs.argmax(1)).all()
    assert (hot.max(1) < probs.max(1)).all()
    with pytest.raises(ValueError, match="temperature"):
        soften(probs, 0)


def test_mixed_targets_run_from_the_labels_to_the_teacher():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), size=50)
    labels = rng.integers(0, 7, size=50)
    assert np.array_equal(mix_targets(probs, labels, 0.0).argmax(1), labels)
    assert np.allclose(mix_targets(probs, labels, 1.0), probs, atol=1e-6)
    half = mix_targets(probs, labels, 0.5)
    assert np.allclose(half.sum(1), 1, atol=1e-6)
    assert np.allclose(half[np.arange(50), labels], 0.5 + 0.5 * probs[np.arange(50), labels])
    with pytest.raises(ValueError, match="alpha"):
        mix_targets(probs, labels, 1.5)


def test_distilled_file_holds_the_teachers_targets_and_trains(tiny_run, tiny_h5, tmp_path):
    out = tmp_path / "distilled.h5"
    script = [sys.executable, str(REPO / "scripts" / "experiments" / "distill_targets.py")]
    result = subprocess.run(
        [*script, str(tiny_run), "-o", str(out), "--data", str(tiny_h5), "--alpha", "0.8"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    images, labels = read_split(out, "Training")
    source_images, source_labels = read_split(tiny_h5, "Training")
    assert np.array_equal(images, source_images) and np.array_equal(labels, source_labels)
    targets = read_votes(out, "Training")
    teacher = Predictor.load(tiny_run).predict_faces(images)
    expected = 0.2 * np.eye(7)[labels] + 0.8 * teacher
    assert np.allclose(targets, expected, atol=1e-4)
    _, val_labels = read_split(out, "PublicTest")
    assert np.array_equal(read_votes(out, "PublicTest").argmax(1), val_labels)

    student = trained_run(out, tmp_path / "student", "data.targets=soft")
    assert read_metrics(student)["status"] == "completed"

    source = shutil.copy(tiny_h5, tmp_path / "source.h5")  # never the shared file: it may break
    refused = subprocess.run(
        [*script, str(tiny_run), "-o", str(source), "--data", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 1 and "overwrite the source" in refused.stderr
