"""Pure mappings between each side's records and the neutral `Entry` (docs/sync-model.md#mapping).

- `sync.mapping.salesforce`: Event/Task/custom-object record dicts ⇄ Entry, update diffs, Salesforce limits;
- `sync.mapping.exchange`: Exchange item fields (plain data, any protocol) ⇄ Entry, update fields, limits;
- `sync.mapping.recurrence`: RRULE text ⇄ neutral Recurrence ⇄ Exchange's pattern and range (`ExchangePattern`);
- `sync.mapping.timezones`: IANA/Windows zone names and which side supports them;
- `sync.mapping.issues`: `MappingIssue` (stable codes) and `MappingResult`.
"""

from sync.mapping.issues import MappingIssue, MappingResult

__all__ = ["MappingIssue", "MappingResult"]
