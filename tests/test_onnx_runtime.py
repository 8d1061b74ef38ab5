"""The onnxruntime path: an exported model used as the Predictor is (faces, TTA, photos with
detection) gives the torch Predictor's probabilities, and runs where torch cannot be imported."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from skimage import data

from fer import Predictor
from fer.data.hdf5 import read_split
from fer.inference.onnx_export import export_onnx
from fer.inference.onnx_predictor import OnnxPredictor
from fer.preprocess import equalize, equalize_array


def without_torch(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter where importing torch fails."""
    code = "import sys; sys.modules['torch'] = None\n" + code
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


@pytest.fixture(scope="module")
def exported(shared_tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(shared_tiny_run, out)
    return out


def test_numpy_equalisation_is_the_torch_one():
    rng = np.random.default_rng(0)
    grey = rng.integers(40, 180, (6, 48, 48), dtype=np.uint8)
    grey[0] = 77  # one grey level: left as it is
    rgb = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    for batch in (grey, rgb):
        np.testing.assert_array_equal(
            equalize_array(batch), equalize(torch.from_numpy(batch)).numpy()
        )


@pytest.mark.parametrize("tta", ["none", "flip", "crops"])
def test_onnx_predictor_gives_the_torch_predictors_probabilities(
    shared_tiny_run, exported, tiny_h5, tta
):
    faces = read_split(tiny_h5, "PrivateTest")[0][:40]
    torch_side = Predictor.load(shared_tiny_run, precision="32-true", fuse=False)
    onnx_side = OnnxPredictor.load(exported)
    assert onnx_side.classes == torch_side.classes and onnx_side.tta == torch_side.tta
    expected = torch_side.predict_faces(faces, tta=tta)
    got = onnx_side.predict_faces(faces, tta=tta)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # faces of another size and colour are brought to the model's as the torch path does
    photos = [np.repeat(f[:, :, None], 3, 2).repeat(2, 0).repeat(2, 1) for f in faces[:5]]
    np.testing.assert_allclose(
        onnx_side.predict_faces(photos, tta), torch_side.predict_faces(photos, tta), atol=1e-4
    )


def test_a_photo_gives_the_same_faces_and_emotions_on_both_runtimes(shared_tiny_run, exported):
    photo = data.astronaut()
    torch_faces = Predictor.load(shared_tiny_run, precision="32-true", fuse=False).predict_image(
        photo
    )
    onnx_faces = OnnxPredictor.load(exported).predict_image(photo)
    assert len(onnx_faces) == len(torch_faces) == 1
    np.testing.assert_allclose(onnx_faces[0].box, torch_faces[0].box, atol=0.5)
    np.testing.assert_allclose(onnx_faces[0].probs, torch_faces[0].probs, atol=1e-3)
    assert onnx_faces[0].label == torch_faces[0].label


def test_onnx_predictor_runs_where_torch_cannot_be_imported(exported):
    code = (
        "from skimage import data\n"
        "from fer.inference.onnx_predictor import OnnxPredictor\n"
        f"faces = OnnxPredictor.load({str(exported)!r}).predict_image(data.astronaut())\n"
        "print(len(faces), faces[0].label, round(float(faces[0].probs.sum()), 4))\n"
    )
    result = without_torch(code)
    assert result.returncode == 0, result.stderr[-2000:]
    count, label, total = result.stdout.split()
    assert int(count) == 1 and total == "1.0"
    assert label in OnnxPredictor.load(exported).classes


def test_fer_predict_runs_the_shipped_model_on_onnx_without_torch(tmp_path):
    """fer-predict on the light path: torch not importable, the shipped model's ONNX export and
    MTCNN on onnxruntime; the same face and label as the torch runtime."""
    from fer.cli.predict import main
    from fer.modelinfo import DEFAULT_ONNX

    from conftest import face_photo

    if not DEFAULT_ONNX.is_file():
        pytest.skip("no ONNX model shipped in fer/assets")
    photo = str(face_photo())
    code = (
        "from fer.cli.predict import main\n"
        f"sys.exit(main([{photo!r}, '--out', {str(tmp_path / 'onnx.csv')!r}]))\n"
    )
    result = without_torch(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert main([photo, "--runtime", "torch", "--out", str(tmp_path / "torch.csv")]) == 0
    onnx_rows, torch_rows = (
        (tmp_path / f"{n}.csv").read_text().splitlines()[1:] for n in ("onnx", "torch")
    )
    assert len(onnx_rows) == len(torch_rows) == 1
    onnx_row, torch_row = onnx_rows[0].split(","), torch_rows[0].split(",")
    assert onnx_row[-1] == torch_row[-1]  # the label
    np.testing.assert_allclose(
        [float(v) for v in onnx_row[2:6]], [float(v) for v in torch_row[2:6]], atol=0.5
    )
    np.testing.assert_allclose(
        [float(v) for v in onnx_row[7:-1]], [float(v) for v in torch_row[7:-1]], atol=0.01
    )  # the torch runtime classifies in bf16 where the CPU has it


def test_a_model_on_the_wrong_runtime_is_refused_in_one_line(
    exported, shared_tiny_run, tmp_path, capsys
):
    from PIL import Image

    from fer.cli.predict import main

    photo = str(tmp_path / "face.png")
    Image.fromarray(data.astronaut()).save(photo)
    assert main([photo, "--model", str(exported), "--runtime", "torch"]) == 1
    assert "runs with --runtime onnx" in capsys.readouterr().err
    weights = shared_tiny_run / "checkpoints" / "best.ckpt"
    assert main([photo, "--model", str(weights), "--runtime", "onnx"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fer-predict: error:") and "fer-export" in err and err.count("\n") == 1


def test_fer_video_gives_the_torch_labels_on_onnx_without_torch(tmp_path):
    """fer-video on a real shared clip, torch not importable: the same frames and labels as
    the torch runtime."""
    import csv

    from fer.cli.video import main
    from fer.modelinfo import DEFAULT_ONNX

    from conftest import SHARED

    clip = SHARED / "video" / "single_face.mp4"
    if not clip.is_file() or not DEFAULT_ONNX.is_file():
        pytest.skip("no shared clip or no shipped ONNX model")
    code = (
        "from fer.cli.video import main\n"
        f"sys.exit(main([{str(clip)!r}, '--out', {str(tmp_path / 'onnx')!r}]))\n"
    )
    result = without_torch(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert main([str(clip), "--runtime", "torch", "--out", str(tmp_path / "torch")]) == 0
    onnx_rows, torch_rows = (
        list(csv.DictReader((tmp_path / side / clip.stem / "frames.csv").open()))
        for side in ("onnx", "torch")
    )
    assert len(onnx_rows) == len(torch_rows) > 0
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in torch_rows]
    assert [r["frame"] for r in onnx_rows] == [r["frame"] for r in torch_rows]


def test_short_jobs_run_the_shipped_model_on_onnx_and_runs_stay_on_torch(shared_tiny_run, capsys):
    """fer-predict and fer-video on files run the shipped model on onnxruntime (start-up is most
    of their time); a run directory, a live view and an explicit --runtime keep their runtime."""
    from fer.cli.video import main as video_main
    from fer.inference.loading import choose_runtime, load_predictor, onnx_ready

    if not onnx_ready():
        pytest.skip("no ONNX model shipped in fer/assets")
    assert choose_runtime(None, None, shipped_on_onnx=True) == "onnx"
    assert choose_runtime(None, None) == "torch"  # the Python API and long-running tools
    assert choose_runtime(None, "torch", shipped_on_onnx=True) == "torch"
    assert choose_runtime(str(shared_tiny_run), None, shipped_on_onnx=True) == "torch"
    assert isinstance(load_predictor(None, shipped_on_onnx=True), OnnxPredictor)
    assert isinstance(load_predictor(shared_tiny_run, shipped_on_onnx=True), Predictor)
    with pytest.raises(SystemExit):  # the tool says which default applies
        video_main(["--help"])
    assert "default: onnx for the shipped model" in " ".join(capsys.readouterr().out.split())


def test_onnx_sessions_do_not_spin_between_runs(exported):
    """Four sessions (classifier, P-, R-, O-Net) share two cores: threads left spinning after a
    run take the cores from the next session's (a photo 168 ms spinning, 54 ms not)."""
    from fer.inference.mtcnn import OnnxNets

    sessions = [OnnxPredictor.load(exported).session, *OnnxNets().sessions]
    for session in sessions:
        options = session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
