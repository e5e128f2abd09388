"""FastAPI: a stream the test releases chunk by chunk, a websocket echo, lifespan state."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

release = asyncio.Event()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict]:
    app.state.phase = "started"
    yield {"greeting": "set at startup"}  # request.state in every request


application = FastAPI(lifespan=lifespan)


@application.get("/state")
async def state(request: Request) -> dict:
    return {"greeting": request.state.greeting, "phase": request.app.state.phase}


@application.get("/stream")
async def stream() -> StreamingResponse:
    release.clear()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.wait_for(release.wait(), 20)  # the second waits for /release
        yield b"second\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@application.post("/release")
async def do_release() -> dict:
    release.set()
    return {"released": True}


@application.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text("echo: " + await websocket.receive_text())
    except WebSocketDisconnect:
        pass
