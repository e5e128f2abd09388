"""The wiring: the only package that sees descriptor, sessions, web and the watcher."""
