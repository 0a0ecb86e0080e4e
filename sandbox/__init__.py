"""Local stand-ins for Salesforce, Exchange (EWS) and an identity provider, speaking the real wire protocols.

Nothing in ``sync``, ``backend`` or ``admin_panel`` imports this package: it is reached over HTTP only.
"""
