"""One module per CLI sub-command; each prints its own output and returns an exit code."""
