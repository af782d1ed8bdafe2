"""Runn sandbox: `create_app(options)` returns an ASGI app shaped like https://api.runn.io (API v1)."""

from sandbox.runn.app import DEFAULT_LIMITS, Principal, RunnSandbox, create_app

__all__ = ["DEFAULT_LIMITS", "Principal", "RunnSandbox", "create_app"]
