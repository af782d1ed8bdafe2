"""QuickBooks Online sandbox: `create_app(options)` returns an ASGI app shaped like the Intuit Accounting
API v3 (`/v3/company/{realmId}/...`) with its OAuth 2.0 token endpoint (`/oauth2/v1/tokens/bearer`)."""

from sandbox.quickbooks.app import DEFAULT_LIMITS, Principal, QuickBooksSandbox, create_app
from sandbox.quickbooks.options import QuickBooksOptions

__all__ = ["DEFAULT_LIMITS", "Principal", "QuickBooksOptions", "QuickBooksSandbox", "create_app"]
