"""The QuickBooks destination's errors, and the words that tell a user how to reconnect.

::

    DestinationError (destinations.base)
     ├── DestinationConfigError
     │    └── InputError            a missing column, a value of the wrong type (names row and column)
     ├── DestinationAuthError
     │    └── ReconnectError        the refresh token is dead: get a new one (``reconnect_steps``)
     ├── RequestRejected            QuickBooks refused a whole request (a Fault), nothing was written by it
     ├── Unavailable                retries ran out (timeouts, 5xx, 429, dropped answers): outcome unknown
     └── WriteFailed               entries refused or in doubt; ``result`` holds the whole run's report

No message carries a secret: tokens and the client secret are never formatted into one, and what
the HTTP engine adds is redacted (``connectors.core.http``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..base import DestinationAuthError, DestinationConfigError, DestinationError

if TYPE_CHECKING:
    from ..base import WriteResult

PLAYGROUND = "https://developer.intuit.com/app/developer/playground"
SCOPE = "com.intuit.quickbooks.accounting"


class InputError(DestinationConfigError):
    pass


class ReconnectError(DestinationAuthError):
    pass


class RequestRejected(DestinationError):
    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.status = code, status


class Unavailable(DestinationError):
    pass


class WriteFailed(DestinationError):
    """Some entries were refused (or their outcome is unknown); the others were written and recorded."""

    def __init__(self, message: str, result: WriteResult) -> None:
        super().__init__(message)
        self.result = result


def reconnect_steps(refresh_env: str, token_file: str, environment: str, realm: str) -> str:
    """How to connect couplet to the company again (reference §2: a dead refresh token cannot be revived)."""
    keys = "Development" if environment == "sandbox" else "Production"
    return (
        "To reconnect: (1) open the Intuit OAuth 2.0 Playground "
        f"({PLAYGROUND}, or your app's own connect flow), pick your app with its {keys} keys, "
        f"select the scope {SCOPE} (Accounting), choose 'Get authorization code', connect the company "
        f"whose Realm ID is {realm}, then 'Get tokens'; (2) put the new refresh token in the environment "
        f"variable {refresh_env}; (3) delete {token_file} (couplet also notices a new value of "
        f"{refresh_env} and replaces that file itself). Do not reuse an older refresh token: each "
        "refresh makes the previous one invalid."
    )
