"""The admin panel (Flask blueprint mounted at /admin)."""
