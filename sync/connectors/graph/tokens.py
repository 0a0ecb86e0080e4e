"""Where the Graph connector gets its bearer tokens: any object with ``token()`` and ``invalidate()``.

The MSAL application and its shared cache live elsewhere (`sync.connectors.graph.auth`); the connector only
asks for a token before each request and says when Graph refused one (401), so a fresh one is fetched once.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TokenSource(Protocol):
    """App-only access tokens for Microsoft Graph (``https://graph.microsoft.com/.default``)."""

    def token(self) -> str:
        """A bearer token valid for at least a few minutes (served from a cache when possible)."""
        ...

    def invalidate(self) -> None:
        """Graph refused the last token (401): forget it, so the next ``token()`` asks the identity provider."""
        ...
