"""calsync sync engine: neutral model, mappings, policies, planner, and (later) connectors and sessions.

The modules `entry`, `policies`, `mapping` and `planner` are pure: no I/O, no database, no HTTP.
`sync` never imports Flask, `backend` or `sandbox`.
"""
