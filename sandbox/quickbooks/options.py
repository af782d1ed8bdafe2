"""Settings of the QuickBooks Online sandbox, held in `SandboxOptions.quickbooks` (None = these defaults).

Kept apart from `sandbox.common` so the shared options stay small: every field here is a QuickBooks
fact from `reference/quickbooks.md` (a published limit or lifetime) or a switch for one of the choices
the sandbox makes where the reference says UNCONFIRMED (see docs/sandbox-quickbooks.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuickBooksOptions:
    """Credentials, token lifetimes, limits and strictness switches of the QuickBooks sandbox."""

    client_id: str = "sandbox-qbo-client-id"
    client_secret: str = "sandbox-qbo-client-secret"
    refresh_token: str = "sandbox-qbo-refresh-token"  # valid until first used (then rotated away)
    realm_id: str = "9130357012345678"  # the company id in every API path
    access_token_seconds: float = 3600.0  # `expires_in` (1 h); set it short to test expiry
    refresh_token_seconds: int = 8_726_400  # `x_refresh_token_expires_in`: rolling, renewed on use
    refresh_token_max_seconds: int = 5 * 365 * 86_400  # absolute cap from the consent (five years)
    min_minor_version: int | None = 75  # lower `minorversion` values answer 400; None accepts any
    default_max_results: int = 100  # MAXRESULTS when a query gives none (UNCONFIRMED)
    max_results: int = 1000  # larger MAXRESULTS values are capped silently (UNCONFIRMED)
    batch_max_items: int = 30  # BatchItemRequest items per batch
    max_concurrent: int = 10  # requests in flight per realm; more answer 429
    retry_after: bool = False  # send Retry-After on 429 (UNCONFIRMED that Intuit does)
    unique_names_across_types: bool = True  # DisplayName unique across Customer, Vendor, Employee
    require_rate_when_billable: bool = True  # Billable TimeActivity needs HourlyRate (UNCONFIRMED)
    max_entry_minutes: int = 23 * 60 + 55  # longest TimeActivity duration accepted (UNCONFIRMED)
    max_description: int = 4000  # TimeActivity Description length (UNCONFIRMED)
    seed: bool = True  # a fresh company holds the agency's people, clients, projects and services
