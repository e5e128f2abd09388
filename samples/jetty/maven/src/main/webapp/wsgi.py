"""Session counter for the migrated Jetty samples: each request of one client counts one more."""


def application(environ, start_response):
    session = environ.get("deployer.session")
    count = 0
    if session is not None:
        count = session.get("count", 0) + 1
        session["count"] = count
    body = f"count={count}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
