"""Clockodo sandbox: `create_app(options)` returns an ASGI app shaped like https://my.clockodo.com/api."""

from sandbox.clockodo.app import DEFAULT_LIMITS, ClockodoSandbox, Principal, create_app

__all__ = ["DEFAULT_LIMITS", "ClockodoSandbox", "Principal", "create_app"]
