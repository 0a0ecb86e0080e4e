"""calsync: Salesforce ⇄ Exchange calendar sync. This package holds the settings and the one CLI."""
