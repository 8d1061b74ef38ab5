"""The batched MTCNN driver against facenet-pytorch's own MTCNN, on real face photographs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from facenet_pytorch import MTCNN
from skimage import data
from torchvision.ops import box_iou

from fer.inference.mtcnn import BatchedMTCNN, nms

from conftest import face_photo


def scene(faces: list[tuple[np.ndarray, int, int, int]]) -> np.ndarray:
    """A 640x360 RGB frame with each (photo, x, y, size) pasted in, clipped at the edges."""
    frame = np.full((360, 640, 3), 90, np.uint8)
    for photo, x, y, size in faces:
        small = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + size, 640), min(y + size, 360)
        frame[y0:y1, x0:x1] = small[y0 - y : y1 - y, x0 - x : x1 - x]
    return frame


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    astronaut = data.astronaut()
    hopper = cv2.cvtColor(cv2.imread(str(face_photo())), cv2.COLOR_BGR2RGB)
    hopper = hopper[: hopper.shape[1]]  # square, face in the upper part
    return np.stack(
        [
            scene([(astronaut, 20, 20, 300)]),
            scene([(astronaut, 300, 60, 200), (hopper, 20, 40, 260)]),
            scene([(hopper, 200, 0, 340)]),
            scene([(astronaut, 470, 150, 260)]),  # partly outside the frame
            scene([(astronaut, 10, 200, 120), (astronaut, 400, 10, 160)]),
            scene([]),
        ]
    )


@pytest.fixture(scope="module")
def detector() -> BatchedMTCNN:
    return BatchedMTCNN()


def confident(*arrays: np.ndarray) -> list[np.ndarray]:
    """Boxes, probs, landmarks of the detections with probability >= 0.9."""
    boxes, probs, points = arrays
    keep = np.asarray(probs, dtype=float) >= 0.9
    return [np.asarray(a, np.float32)[keep] for a in (boxes, probs, points)]


def test_finds_the_faces_and_landmarks_facenet_finds(detector, frames):
    reference = MTCNN(keep_all=True)
    ref_boxes, ref_probs, ref_points = reference.detect(frames, landmarks=True)
    counts = []
    for (boxes, probs, points), rb, rp, rl in zip(
        detector.detect(frames), ref_boxes, ref_probs, ref_points
    ):
        boxes, probs, points = confident(boxes, probs, points)
        if rb is None:
            rb, rp, rl = np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        rb, rp, rl = confident(rb, rp, rl)
        counts.append(len(boxes))
        assert len(boxes) == len(rb)
        if len(rb):
            iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(rb))
            best = iou.max(dim=1)
            assert best.values.min() > 0.8, iou  # box regression differs by the resize only
            np.testing.assert_allclose(probs, rp[best.indices.numpy()], atol=0.01)
            # Landmarks agree within a few percent of the face's size.
            side = (boxes[:, 2] - boxes[:, 0])[:, None, None]
            assert np.abs(points - rl[best.indices.numpy()]).max() < 0.05 * side.min()
            inside = (points[..., 0] > boxes[:, None, 0]) & (points[..., 0] < boxes[:, None, 2])
            assert inside.all()
            assert (points[:, 0, 0] < points[:, 1, 0]).all()  # left eye left of the right one
    assert counts == [1, 2, 1, 1, 2, 0]


def test_a_batch_gives_each_frame_its_own_result(detector, frames):
    batched = detector.detect(frames)
    for frame, (boxes, probs, _) in zip(frames, batched):
        one_boxes, one_probs, _ = detector.detect(frame[None])[0]
        order, one_order = np.argsort(-probs), np.argsort(-one_probs)
        np.testing.assert_allclose(boxes[order], one_boxes[one_order], atol=0.05)
        np.testing.assert_allclose(probs[order], one_probs[one_order], atol=1e-4)


def test_blank_and_tiny_frames_have_no_faces(detector):
    blank = np.full((2, 360, 640, 3), 90, np.uint8)
    tiny = np.zeros((1, 10, 10, 3), np.uint8)  # smaller than one P-Net window
    for boxes, probs, points in detector.detect(blank) + detector.detect(tiny):
        assert boxes.shape == (0, 4) and probs.shape == (0,) and points.shape == (0, 5, 2)


def test_nms_keeps_the_best_of_overlapping_boxes_per_frame():
    boxes = np.array(
        [
            [0, 0, 100, 100, 0.8],
            [5, 5, 105, 105, 0.9],  # overlaps the first (IoU 0.82): the better one stays
            [200, 0, 300, 100, 0.7],  # apart
            [0, 0, 100, 100, 0.6],  # same place, but in the second frame
            [10, 10, 40, 40, 0.5],  # inside that one: IoU 0.09, but all of its own area
        ]
    )
    frame = np.array([0, 0, 0, 1, 1])
    assert nms(boxes, frame, 0.7).tolist() == [1, 2, 3, 4]
    assert nms(boxes, frame, 0.7, over_smaller=True).tolist() == [1, 2, 3]
    assert nms(boxes[:0], frame[:0], 0.7).tolist() == []


def clip_frames(per_clip: int = 3) -> np.ndarray | None:
    """A few frames of each shared real clip, resized to one size (None: no clips here)."""
    from conftest import SHARED

    clips = sorted((SHARED / "video").glob("*.[fm][lp][v4]"))
    frames = []
    for clip in clips:
        capture = cv2.VideoCapture(str(clip))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 30
        for index in np.linspace(0, count - 1, per_clip).astype(int):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = capture.read()
            if ok:
                frames.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (640, 360)))
        capture.release()
    return np.stack(frames) if frames else None


def test_onnx_networks_find_the_boxes_and_landmarks_torch_finds(frames, detector):
    """fer ships MTCNN as ONNX (fer/assets/mtcnn/): on onnxruntime the same faces, boxes within
    IoU 0.99 and landmarks within half a pixel, on pasted photos and on the real shared clips."""
    onnx = BatchedMTCNN(runtime="onnx")
    real = clip_frames()
    batches = [frames] + ([real] if real is not None else [])
    found = 0
    for batch in batches:
        for (boxes, probs, marks), (o_boxes, o_probs, o_marks) in zip(
            detector.detect(batch), onnx.detect(batch)
        ):
            assert len(o_boxes) == len(boxes)
            if not len(boxes):
                continue
            overlap = box_iou(torch.from_numpy(boxes), torch.from_numpy(o_boxes)).numpy()
            match = overlap.argmax(1)
            assert overlap.max(1).min() >= 0.99, overlap
            np.testing.assert_allclose(o_probs[match], probs, atol=1e-3)
            np.testing.assert_allclose(o_marks[match], marks, atol=0.5)
            found += len(boxes)
    assert found >= 6 + (len(real) if real is not None else 0) * 0.8  # faces were found


def test_detection_on_onnx_runs_where_torch_cannot_be_imported(tmp_path):
    """The ONNX networks and the numpy driver need no torch: a process where importing torch
    fails still finds the astronaut's face."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from skimage import data\n"
        "from fer.inference.faces import FaceDetector\n"
        "faces = FaceDetector(runtime='onnx').detect([data.astronaut()])[0]\n"
        "print(len(faces), [round(v) for v in faces[0].box])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    count, _ = result.stdout.split(" ", 1)
    assert int(count) == 1
