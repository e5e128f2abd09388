"""The XML language: safe parse, schema, interpretation into specs. No HTTP, no sessions."""
