"""Session counter (WSGI): each request from the same client counts one more.

Served by deployer, the session is environ["deployer.session"]; the first write creates it and
deployer sets the JSESSIONID cookie. Without a session manager (or under a plain WSGI server) it
still answers, counting nothing, so the same app can be benchmarked bare.
"""

from counting import bump


def application(environ, start_response):
    session = environ.get("deployer.session")
    count = bump(session) if session is not None else 0
    body = f"count={count}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
