"""fer-app's server: the Gradio page and the live view's routes on one local FastAPI app.

Two guards a page served on localhost needs: a state-changing request (POST and the like) from
another site's page is refused (its `Origin` is not the address the app is served on, so a page
elsewhere cannot upload to it or drive the live view), and so is a request whose `Host` is not an
address this server answers on (DNS rebinding). And nothing is left behind: uploads go to a
folder of the server's own (`GRADIO_TEMP_DIR`), removed when it stops, and with the default
temporary work folder, every result too: a session's when its page is closed, all of them when
the server stops. With `--work-dir`, results stay there; uploads still go.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse

from fer.inference.classifier import FaceClassifier

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class Workspace:
    """Where a server writes: results under `results`, Gradio's uploads under `uploads`;
    `owned`: the results folder is a temporary one, removed with the server."""

    results: Path
    uploads: Path
    owned: bool


@contextmanager
def workspace(work_dir: Path | None) -> Iterator[Workspace]:
    """A Workspace for one server's life; what it holds is removed at the end (results only
    when the folder was made here). Gradio reads GRADIO_TEMP_DIR when it is imported: enter
    this before importing gradio."""
    owned = work_dir is None
    results = Path(tempfile.mkdtemp(prefix="fer-app-")) if owned else Path(work_dir)
    results.mkdir(parents=True, exist_ok=True)
    uploads = Path(tempfile.mkdtemp(prefix=".uploads-", dir=results))
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(uploads)
    try:
        yield Workspace(results, uploads, owned)
    finally:
        shutil.rmtree(results if owned else uploads, ignore_errors=True)
        if previous is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous


class SameOrigin:
    """ASGI middleware: refuse (403) a request whose Host is not one of `hosts` (None: any), and
    a state-changing one whose Origin is not the Host it was sent to."""

    def __init__(self, app: Any, hosts: set[str] | None) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            host = headers.get("host", "")
            reason = None
            if self.hosts is not None and host not in self.hosts:
                reason = f"host {host!r} is not this server"
            elif scope["method"] not in SAFE_METHODS and "origin" in headers:
                if urlsplit(headers["origin"]).netloc != host:
                    reason = f"a request from {headers['origin']} is refused (another site)"
            if reason:
                await PlainTextResponse(reason, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def served_hosts(host: str, port: int) -> set[str] | None:
    """The Host headers a server on `host`:`port` answers: its local names, or any when it
    listens on every address (0.0.0.0, ::), whose names it cannot know."""
    if host in ("0.0.0.0", "::", ""):
        return None
    names = {*LOCAL_NAMES, f"[{host}]" if ":" in host else host}
    return {f"{name}:{port}" for name in names} | set(names)


def build_server(
    predictor: FaceClassifier,
    model: str | None,
    space: Workspace,
    *,
    host: str,
    port: int,
    max_upload_bytes: int,
) -> Any:
    """The ASGI app fer-app serves: the live routes, then the Gradio page at `/`, guarded."""
    import gradio as gr
    from fastapi import FastAPI

    from fer.app.live_view import live_router
    from fer.app.ui import THEME, build_app

    server = FastAPI()
    server.include_router(live_router(predictor, space.results))  # the live view's frames
    page = build_app(predictor, model, space.results, clean_sessions=space.owned)
    server = gr.mount_gradio_app(
        server,
        page.queue(default_concurrency_limit=1),
        path="/",
        max_file_size=max_upload_bytes,
        ssr_mode=False,
        show_error=True,
        theme=THEME,
        footer_links=["settings"],
    )
    server.add_middleware(SameOrigin, hosts=served_hosts(host, port))
    return server
