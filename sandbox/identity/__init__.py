"""A local identity provider that issues Office-SSO-shaped access tokens (RS256 JWTs) for the seeded reps."""

from sandbox.identity.provider import IdentityProvider

__all__ = ["IdentityProvider"]
