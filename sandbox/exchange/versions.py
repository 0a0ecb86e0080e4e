"""Request schema versions, answered the way Exchange answers them.

A request names its schema in ``t:RequestServerVersion/@Version``. The sandbox speaks Exchange 2013 SP1 and takes
every version of that server's schema enum (Exchange2007 ... Exchange2013_SP1), as Exchange 2013 SP1 does; it
answers all of them in the 2013 SP1 shape (Exchange would leave out what the older schema lacks). The header's
XSD fixes the attribute at Exchange2013_SP1, so the header is validated with the version it names replaced by
that one. A version the server does not know (Exchange2016, a typo) is the SOAP fault ``ErrorInvalidServerVersion``
("The specified server version is invalid."): exchangelib's version guessing then tries the next older version,
the way it finds the version of a real Exchange 2013 server, instead of failing on a schema violation.

An operation the sandbox does not implement is the SOAP fault ``ErrorInvalidOperation``: not one of the codes
(ErrorInvalidServerVersion, ErrorIncorrectSchemaVersion, ErrorInvalidRequest,
ErrorInvalidSchemaVersionForMailboxVersion) that exchangelib reads as a version mismatch and answers by
retrying every version. Exchange itself implements every operation of its schema; this answer is the sandbox's.
"""

from __future__ import annotations

from copy import deepcopy

from .errors import SoapFault
from .xml import Element, t

SERVED = "Exchange2013_SP1"
# t:ExchangeVersionType of schema/types.xsd
KNOWN = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
)


def check_request_version(header: Element | None) -> str | None:
    """The requested version (None without one); ErrorInvalidServerVersion for a version Exchange 2013 SP1
    does not know."""
    if header is None:
        return None
    rsv = header.find(t("RequestServerVersion"))
    if rsv is None:
        return None
    version = rsv.get("Version")
    if version not in KNOWN:
        raise SoapFault(
            "ErrorInvalidServerVersion",
            "The specified server version is invalid.",
            fault_code="a:ErrorInvalidServerVersion",
        )
    return version


def xsd_view(elem: Element) -> Element:
    """A header element as the XSD wants it (RequestServerVersion's fixed Version attribute)."""
    if elem.tag != t("RequestServerVersion") or elem.get("Version") == SERVED:
        return elem
    view = deepcopy(elem)
    view.set("Version", SERVED)
    return view


def unsupported_operation(operation: str) -> SoapFault:
    return SoapFault(
        "ErrorInvalidOperation",
        f"The sandbox does not implement the {operation} operation.",
        fault_code="a:ErrorInvalidOperation",
    )
