"""Real processes and services failing under the engine: Redis restarted, database connections dropped."""
