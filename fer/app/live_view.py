"""The browser's live view, server side: JPEG frames in, each face's emotion out as JSON.

The page (`live.js`) sends one camera frame at a time and draws the answer over the live picture
itself, so the picture moves at the camera's own rate and only boxes and numbers travel back.
A frame that arrives while the model is busy with another session's frame is answered `busy` at
once and dropped: frames are never queued, so latency cannot grow.

Routes (mounted beside the Gradio page): POST live/frame?session=ID&t=MS&smoothing=S (body: a
JPEG), POST live/save?session=ID (frames.csv, summary.json, timeline.png of the session so far),
GET live/files/FOLDER/NAME (what save wrote).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from fer.inference.classifier import FaceClassifier
from fer.inference.frames import Frame
from fer.inference.live import LiveSession
from fer.inference.records import FILES

MAX_SESSIONS = 8  # live sessions kept in memory; the oldest is forgotten first
MAX_FRAME_BYTES = 4 * 1024 * 1024
SESSION_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyz-")


class LiveSessions:
    """Live sessions by id, one model shared by all, one frame processed at a time."""

    def __init__(self, predictor: FaceClassifier, work_dir: Path) -> None:
        self.predictor, self.work_dir = predictor, work_dir
        self.sessions: OrderedDict[str, LiveSession] = OrderedDict()
        self.saved: dict[str, Path] = {}  # folder name -> folder, for live/files
        self.busy = threading.Lock()
        self._index = threading.Lock()

    def get(self, session_id: str) -> LiveSession:
        if not session_id or len(session_id) > 64 or set(session_id) - SESSION_CHARS:
            raise HTTPException(400, "session: letters, digits and '-' only")
        with self._index:
            if session_id not in self.sessions:
                self.sessions[session_id] = LiveSession(self.predictor)
                while len(self.sessions) > MAX_SESSIONS:
                    self.sessions.popitem(last=False)
            self.sessions.move_to_end(session_id)
            return self.sessions[session_id]

    def frame(self, session_id: str, jpeg: bytes, t_ms: float, smoothing: float) -> dict[str, Any]:
        """One frame's faces, or {"busy": true} when another frame holds the model."""
        import cv2

        session = self.get(session_id)
        if not self.busy.acquire(blocking=False):
            return {"busy": True}
        try:
            start = time.perf_counter()
            bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise HTTPException(400, "the frame is not a JPEG or PNG image")
            session.pipeline.smoother.window_s = smoothing
            frame = Frame(session.processed, t_ms / 1000.0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            record = session.step(frame)
        finally:
            self.busy.release()
        classes = session.classes
        return {
            "frame": record.index,
            "width": bgr.shape[1],
            "height": bgr.shape[0],
            "classes": list(classes),
            "ms": round(1000 * (time.perf_counter() - start), 1),
            "faces": [
                {
                    "id": face.face_id,
                    "box": [round(v, 1) for v in face.box],
                    "probs": [round(float(p), 4) for p in face.probs],
                    "smoothed": [round(float(p), 4) for p in face.smoothed],
                    "label": face.label(classes),
                    "label_smoothed": face.label(classes, smoothed=True),
                }
                for face in record.faces
            ],
        }

    def save(self, session_id: str) -> dict[str, Any]:
        session = self.get(session_id)
        if not session.processed:
            raise HTTPException(409, "nothing to save yet: start the live view first")
        folder = f"live-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        summary = session.save(self.work_dir / folder, f"live session {session_id}")
        self.saved[folder] = self.work_dir / folder
        return {
            "folder": str(self.work_dir / folder),
            "files": {name: f"live/files/{folder}/{name}" for name in FILES},
            "summary": summary,
        }

    def file(self, folder: str, name: str) -> Path:
        if folder not in self.saved or name not in FILES:
            raise HTTPException(404, "no such saved file")
        return self.saved[folder] / name


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request's body, read no further than `limit` bytes: a larger one (as its
    Content-Length says, or as it streams in) is refused with 413 before more is read."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise HTTPException(413, f"send one JPEG frame of at most {limit // 1024**2} MB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"send one JPEG frame of at most {limit // 1024**2} MB")
    return bytes(body)


def live_router(predictor: FaceClassifier, work_dir: Path) -> APIRouter:
    """The live view's three routes over one `LiveSessions`."""
    sessions = LiveSessions(predictor, work_dir)
    router = APIRouter(prefix="/live")

    @router.post("/frame")
    async def frame(
        request: Request, session: str, t: float = 0.0, smoothing: float = 1.0
    ) -> dict[str, Any]:
        body = await bounded_body(request, MAX_FRAME_BYTES)
        if not body:
            raise HTTPException(400, "send one JPEG frame of at most 4 MB")
        if not 0 <= smoothing <= 10:
            raise HTTPException(400, "smoothing: 0 to 10 seconds")
        # The model runs in a worker thread, so the server keeps answering meanwhile.
        return await run_in_threadpool(sessions.frame, session, body, t, smoothing)

    @router.post("/save")
    def save(session: str) -> dict[str, Any]:
        return sessions.save(session)

    @router.get("/files/{folder}/{name}")
    def files(folder: str, name: str) -> FileResponse:
        return FileResponse(sessions.file(folder, name))

    return router
