"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fer.analysis.metrics import calibration, classification_report, confusion_matrix

Y = np.array([0, 0, 1, 1, 2])
# Predictions 0, 1, 1, 1, 0 with top confidences 0.9, 0.6, 0.8, 0.7, 0.5 (distinct 1/15 bins).
PROBS = np.array([
    [0.90, 0.05, 0.05],
    [0.30, 0.60, 0.10],
    [0.10, 0.80, 0.10],
    [0.20, 0.70, 0.10],
    [0.50, 0.25, 0.25],
])  # fmt: skip


def test_confusion_matrix_rows_are_true_classes():
    assert confusion_matrix(Y, PROBS.argmax(1), 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_report_matches_hand_computation():
    r = classification_report(Y, PROBS, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert [r["per_class"][c]["precision"] for c in "abc"] == pytest.approx([1 / 2, 2 / 3, 0])
    assert [r["per_class"][c]["recall"] for c in "abc"] == pytest.approx([1 / 2, 1, 0])
    assert [r["per_class"][c]["f1"] for c in "abc"] == pytest.approx([1 / 2, 0.8, 0])
    assert [r["per_class"][c]["support"] for c in "abc"] == [2, 2, 1]
    assert r["balanced_accuracy"] == pytest.approx(0.5)
    assert r["precision_macro"] == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert r["f1_macro"] == pytest.approx(1.3 / 3)
    assert r["f1_weighted"] == pytest.approx((2 * 0.5 + 2 * 0.8) / 5)
    assert r["recall_weighted"] == pytest.approx(3 / 5)  # weighted recall is accuracy
    assert r["top_confusions"][0] == {"true": "c", "predicted": "a", "count": 1}
    assert len(r["top_confusions"]) == 2


def test_expected_calibration_error():
    # One sample per bin: ECE = mean |correct - confidence|.
    expected = (0.1 + 0.6 + 0.2 + 0.3 + 0.5) / 5
    assert calibration(PROBS, Y)["ece"] == pytest.approx(expected)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert calibration(perfect, np.array([0, 1]))["ece"] == pytest.approx(0.0)
