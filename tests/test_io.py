"""Output files: strict JSON, atomic writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fer.io import write_json
from fer.train import best_score


def test_json_is_strict_nan_becomes_null(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"a": float("nan"), "b": [np.float32("inf"), 1.5], "c": np.float64(2.0)})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert data == {"a": None, "b": [None, 1.5], "c": 2.0}


def test_a_best_score_of_zero_is_a_score():
    import torch

    class Checkpoint:
        best_model_score = torch.tensor(0.0)

    assert best_score(Checkpoint()) == 0.0
    Checkpoint.best_model_score = None
    assert math.isnan(best_score(Checkpoint()))
