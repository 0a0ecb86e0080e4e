"""EWS response errors raised inside service handlers and turned into error response messages."""

from __future__ import annotations


class EwsError(Exception):
    """An EWS ResponseCode (``ErrorItemNotFound``, ...) with its message text, answered inline in the response
    message of the item or request that caused it."""

    def __init__(self, code: str, text: str | None = None) -> None:
        super().__init__(f"{code}: {text or code}")
        self.code = code
        self.text = text or _TEXTS.get(code, code)


class SoapFault(Exception):
    """A request-level failure answered as a SOAP Fault (auth-independent errors such as ErrorServerBusy,
    ErrorSchemaValidation, ErrorImpersonateUserDenied, ErrorInvalidRequest)."""

    def __init__(
        self,
        code: str,
        text: str,
        *,
        fault_code: str = "a:ErrorInvalidRequest",
        status: int = 500,
        message_xml: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
        self.fault_code = fault_code
        self.status = status
        self.message_xml = message_xml or {}


_TEXTS = {
    "ErrorItemNotFound": "The specified object was not found in the store.",
    "ErrorFolderNotFound": "The specified folder could not be found in the store.",
    "ErrorAccessDenied": "Access is denied. Check credentials and try again.",
    "ErrorIrresolvableConflict": "The send or update operation could not be performed because the change key "
    "passed in the request does not match the current change key for the item.",
    "ErrorInvalidSyncStateData": "Synchronization state data is corrupt or otherwise invalid.",
    "ErrorInvalidIdMalformed": "Id is malformed.",
    "ErrorCalendarInvalidRecurrence": "The recurrence pattern is invalid.",
    "ErrorCalendarEndDateIsEarlierThanStartDate": "EndDate is earlier than StartDate",
    "ErrorItemNotFoundUserConfiguration": "The specified object was not found in the store.",
}
