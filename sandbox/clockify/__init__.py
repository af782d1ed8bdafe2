"""Clockify sandbox: `create_app(options)` serves Clockify's regular API under `/api` and its reports
API under `/reports`, rendering the same synthetic agency as the other sandboxes."""

from sandbox.clockify.app import DEFAULT_LIMITS, ClockifySandbox, Principal, create_app

__all__ = ["DEFAULT_LIMITS", "ClockifySandbox", "Principal", "create_app"]
