"""Hello (ASGI) with a session counter and lifespan support.

scope["deployer.session"] is the session (created by the first write); scope["deployer.context"]
tells the context path. Without deployer it still answers, counting nothing.
"""

STATE = {"started": False}


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                STATE["started"] = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                STATE["started"] = False
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    session = scope.get("deployer.session")
    count = 0
    if session is not None:
        count = session.get("count", 0) + 1
        session["count"] = count
    body = f"hello count={count}\n".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
