"""The Flask backend: app factory, database access, the add-in API and its auth."""
