"""HTTP: app loading, static files, routing, the embedded server. No XML, no deployment."""
