"""The Exchange Web Services connector (exchangelib): an `ExchangeCalendar` (`sync.connectors.base`).

- `connector`: the calendar of one mailbox (SyncFolderItems, GetItem, Create/Update/DeleteItem, categories);
- `mapping`: exchangelib items ⇄ the plain item fields of `sync.mapping.exchange`;
- `recurrence`: exchangelib's recurrence patterns ⇄ `sync.mapping.recurrence.ExchangePattern`.
"""

from sync.connectors.ews.connector import ExchangeConfig, ExchangeConnector

__all__ = ["ExchangeConfig", "ExchangeConnector"]
