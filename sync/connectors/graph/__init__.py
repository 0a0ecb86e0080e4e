"""The Microsoft Graph connector (msal tokens + requests): an `ExchangeCalendar` (`sync.connectors.base`) for
Exchange Online mailboxes, beside the EWS one (`sync.connectors.ews`). See docs/graph.md.

- `connector`: `GraphCalendar`, the calendar of one mailbox (delta feed, batched reads and writes, categories);
- `client`: the HTTP transport (Prefer headers, ≤ 4 requests in flight per mailbox, Retry-After, ``$batch``,
  call and back-off counting, Graph errors → `sync.connectors.errors`);
- `feed`: ``calendarView/delta`` rounds and the opaque cursor (delta link + window);
- `mapping`: Graph event JSON ⇄ the plain item fields of `sync.mapping.exchange`;
- `tokens`: the `TokenSource` protocol the connector takes its bearer tokens from.
"""

from sync.connectors.graph.connector import GraphCalendar
from sync.connectors.graph.tokens import TokenSource

__all__ = ["GraphCalendar", "TokenSource"]
