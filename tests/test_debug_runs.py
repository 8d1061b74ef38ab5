"""Lightning's own debug flags (and the `debug=` group) pass through and the run completes, with
per-image predictions that hold exactly the faces that were evaluated, each with its index."""

from __future__ import annotations

import numpy as np
import pytest

from fer.data.hdf5 import read_split
from fer.run.predictions import read_predictions
from fer.train import run

from conftest import config, read_metrics

SPLITS = {"val": "PublicTest", "test": "PrivateTest"}
EVAL_BATCH = 32  # conftest's data.batch_size=16, doubled for evaluation


@pytest.mark.parametrize(
    ("overrides", "faces"),
    [
        (["++trainer.fast_dev_run=true"], {"val": EVAL_BATCH, "test": EVAL_BATCH}),
        (["debug=fdr"], {"val": EVAL_BATCH, "test": EVAL_BATCH}),
        (["debug=limit"], {"val": 3 * EVAL_BATCH, "test": 3 * EVAL_BATCH}),
        (
            ["++trainer.limit_val_batches=2", "++trainer.limit_test_batches=1"],
            {"val": 2 * EVAL_BATCH, "test": EVAL_BATCH},
        ),
        (["trainer.num_sanity_val_steps=0"], {"val": 112, "test": 112}),
        (["debug=overfit", "trainer.max_epochs=2"], None),
    ],
    ids=["fast_dev_run", "debug=fdr", "debug=limit", "limit_batches", "no_sanity", "overfit"],
)
def test_debug_flags_complete_with_the_evaluated_faces(tiny_h5, tmp_path, overrides, faces):
    run(config(tiny_h5, tmp_path, *overrides))
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "completed"
    for split, usage in SPLITS.items():
        predictions = read_predictions(tmp_path, split)
        _, labels = read_split(tiny_h5, usage)
        n = len(predictions["index"])
        if faces is not None:
            assert n == faces[split]
        assert 0 < n <= len(labels) and len(set(predictions["index"].tolist())) == n
        # each row is the face its index names: its label is that face's label
        np.testing.assert_array_equal(predictions["labels"], labels[predictions["index"]])
        # and the accuracy recorded is the accuracy of these rows
        accuracy = (predictions["probs"].argmax(1) == predictions["labels"]).mean()
        assert metrics[split]["acc"] == pytest.approx(accuracy, abs=1e-6)
