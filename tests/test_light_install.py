"""The light install: fer with only its own dependencies (no torch, no extras) predicts a photo
and a real video on onnxruntime, with the torch runtime's labels.

The venv is made offline: the light dependencies' installed files are linked in from this
environment (so the test needs no network), and fer itself is built and installed from this
checkout without its dependencies, as `pip install .` would place it.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from fer.cli.predict import main as predict_main
from fer.cli.video import main as video_main
from fer.modelinfo import DEFAULT_ONNX

from conftest import REPO, SHARED, face_photo

pytestmark = pytest.mark.skipif(not DEFAULT_ONNX.is_file(), reason="no ONNX model shipped")


def light_requirements() -> list[str]:
    """fer's own dependencies (no extras), as pyproject.toml declares them."""
    text = (REPO / "pyproject.toml").read_text()
    block = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    return re.findall(r'"([^"]+)"', block)


def closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions these requirements need, recursively (markers honoured)."""
    seen: dict[str, metadata.Distribution] = {}
    stack = [Requirement(r) for r in requirements]
    while stack:
        req = stack.pop()
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen[name] = metadata.distribution(req.name)
        for sub in seen[name].requires or []:
            parsed = Requirement(sub)
            if parsed.marker is None or Marker(str(parsed.marker)).evaluate({"extra": ""}):
                stack.append(parsed)
    return list(seen.values())


@pytest.fixture(scope="module")
def light_python(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("light")
    venv.create(root, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)}))
    for dist in closure(light_requirements()):
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (site / top).exists() and top != "..":
                (site / top).symlink_to(source)
    source = root / "source"  # built from a copy: the build leaves build/ where it runs
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "fer", source / "fer", ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    return root / "bin" / "python"


def run_light(python: Path, code: str) -> subprocess.CompletedProcess:
    """`code` in the light venv, away from this checkout (which would shadow the installed fer)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, cwd=python.parent, env=env
    )


def test_the_light_install_has_no_torch(light_python):
    result = run_light(light_python, "import torch")
    assert result.returncode != 0 and "No module named 'torch'" in result.stderr
    result = run_light(light_python, "import fer, fer.inference; print(fer.__file__)")
    assert result.returncode == 0 and "site-packages" in result.stdout  # the installed copy
    # the Python API is the same: fer.Predictor runs the shipped model on onnxruntime
    code = (
        "import fer\nfrom PIL import Image\n"
        f"faces = fer.Predictor.load().predict_image(Image.open({str(face_photo())!r}))\n"
        "print(type(fer.Predictor.load()).__name__, len(faces))"
    )
    result = run_light(light_python, code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["OnnxPredictor", "1"]


def test_light_fer_predict_and_fer_video_give_the_torch_labels(light_python, tmp_path):
    photo = str(face_photo())
    out = tmp_path / "light.csv"
    result = run_light(
        light_python,
        f"import sys; from fer.cli.entry import run; sys.exit(run('fer-predict', "
        f"[{photo!r}, '--out', {str(out)!r}]))",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert predict_main([photo, "--runtime", "torch", "--out", str(tmp_path / "torch.csv")]) == 0
    light_rows, torch_rows = (list(csv.DictReader(p.open())) for p in (out, tmp_path / "torch.csv"))
    assert [r["label"] for r in light_rows] == [r["label"] for r in torch_rows] != []

    clip = SHARED / "video" / "single_face.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not present")
    result = run_light(
        light_python,
        f"import sys; from fer.cli.entry import run; sys.exit(run('fer-video', "
        f"[{str(clip)!r}, '--out', {str(tmp_path / 'light')!r}]))",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert video_main([str(clip), "--runtime", "torch", "--out", str(tmp_path / "torch")]) == 0
    light_frames, torch_frames = (
        list(csv.DictReader((tmp_path / side / clip.stem / "frames.csv").open()))
        for side in ("light", "torch")
    )
    assert [r["label"] for r in light_frames] == [r["label"] for r in torch_frames] != []


def test_a_tool_of_an_extra_says_what_to_install(light_python):
    result = run_light(
        light_python, "import sys; from fer.cli.entry import run; sys.exit(run('fer-compare', []))"
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("fer-compare: error: this needs")
    assert "pip install 'fer[train]'" in result.stderr and "Traceback" not in result.stderr
