"""Turns real Jetty configurations (6 to 12, 9.4 sessions, maven plugin) into descriptors."""
