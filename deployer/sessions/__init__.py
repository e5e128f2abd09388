"""Session semantics and persistence. No XML, no HTTP."""
