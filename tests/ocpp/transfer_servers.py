"""Real file-transfer peers for the firmware/diagnostics tests: an aiohttp HTTP server on loopback
(serves firmware files, receives PUT/POST uploads, can fail the first N requests) and a pyftpdlib
FTP server in a thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web


@dataclass
class HttpFiles:
    url: str
    files: dict[str, bytes] = field(default_factory=dict)  # served at /fw/<name>
    uploads: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, name, body)
    fail_next: int = 0  # answer 503 to this many requests first
    requests: int = 0


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[HttpFiles]:
    state = HttpFiles(url="")

    def failing() -> web.Response | None:
        state.requests += 1
        if state.fail_next > 0:
            state.fail_next -= 1
            return web.Response(status=503, text="try later")
        return None

    async def get_file(request: web.Request) -> web.StreamResponse:
        if (r := failing()) is not None:
            return r
        name = request.match_info["name"]
        if name not in state.files:
            return web.Response(status=404, text="no such file")
        return web.Response(body=state.files[name], content_type="application/octet-stream")

    async def put_upload(request: web.Request) -> web.Response:
        if (r := failing()) is not None:
            return r
        state.uploads.append(("PUT", request.match_info["name"], await request.read()))
        return web.Response(status=201, text="stored")

    async def post_upload(request: web.Request) -> web.Response:
        if (r := failing()) is not None:
            return r
        reader = await request.multipart()
        part = await reader.next()
        if part is None or part.name != "file":  # type: ignore[union-attr]
            return web.Response(status=400, text="field 'file' missing")
        body = await part.read()  # type: ignore[union-attr]
        state.uploads.append(("POST", part.filename or "", bytes(body)))  # type: ignore[union-attr]
        return web.Response(status=200, text="ok")

    app = web.Application()
    app.router.add_get("/fw/{name}", get_file)
    app.router.add_put("/upload/{name}", put_upload)
    app.router.add_post("/upload", post_upload)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@dataclass
class FtpServer:
    url: str  # ftp://user:secret@127.0.0.1:port
    root: Path


@contextlib.contextmanager
def ftp_server(root: Path) -> Iterator[FtpServer]:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    root.mkdir(parents=True, exist_ok=True)
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "secret", str(root), perm="elradfmw")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
    server = FTPServer(("127.0.0.1", 0), handler)
    port = server.socket.getsockname()[1]
    running = threading.Event()
    running.set()

    def serve() -> None:
        while running.is_set():
            server.serve_forever(timeout=0.02, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, daemon=True, name="ftp-server")
    thread.start()
    try:
        yield FtpServer(url=f"ftp://user:secret@127.0.0.1:{port}", root=root)
    finally:
        running.clear()
        thread.join(timeout=5)
