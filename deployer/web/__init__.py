"""The front's HTTP: server, router, static files, session tracking, and the client side of
the worker pool (processes, channels, one request's exchange). No XML, no deployment."""
