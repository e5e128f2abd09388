"""The manager listener: the page and JSON API over the deployed contexts, /metrics, health.

It reads deploy/ (and, through it, web/ and sessions/); nothing below imports it.
"""
