"""Harvest sandbox: `create_app(options)` returns an ASGI app shaped like https://api.harvestapp.com (`/v2/...`)."""

from sandbox.harvest.app import DEFAULT_LIMITS, HarvestSandbox, Principal, create_app

__all__ = ["DEFAULT_LIMITS", "HarvestSandbox", "Principal", "create_app"]
