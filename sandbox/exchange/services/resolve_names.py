"""ResolveNames: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/resolvenames-operation

Resolves against the store's mailbox users (Active Directory) and the seeded external people (contacts).
"""

from __future__ import annotations

from ..errors import EwsError
from ..xml import Element, el, m, t
from . import Context, error, response, success

CANDIDATES_LIMIT = 100


def _mailbox(name: str, email: str, mailbox_type: str) -> Element:
    return el(
        t("Mailbox"),
        children=[
            el(t("Name"), name),
            el(t("EmailAddress"), email),
            el(t("RoutingType"), "SMTP"),
            el(t("MailboxType"), mailbox_type),
        ],
    )


def _contact(name: str, email: str, first: str, last: str, source: str) -> Element:
    return el(
        t("Contact"),
        children=[
            # In ContactItemType's schema order.
            el(t("DisplayName"), name),
            el(t("GivenName"), first),
            el(t("EmailAddresses"), children=[el(t("Entry"), f"SMTP:{email}", {"Key": "EmailAddress1"})]),
            el(t("ContactSource"), source),
            el(t("Surname"), last),
        ],
    )


def resolve_names(ctx: Context, req: Element) -> Element:
    full = req.get("ReturnFullContactData", "false").lower() in ("true", "1")
    entry = (req.findtext(m("UnresolvedEntry")) or "").strip()
    needle = entry.lower().removeprefix("smtp:")
    messages = []
    try:
        if not needle:
            raise EwsError("ErrorNameResolutionNoResults", "No results were found.")
        found = []
        for person in ctx.sandbox.directory_people():
            email, name, first, last, kind = person
            words = [name.lower(), first.lower(), last.lower()]
            if email.lower() == needle or any(w.startswith(needle) for w in words) or needle in name.lower():
                found.append(person)
        if not found:
            raise EwsError("ErrorNameResolutionNoResults", "No results were found.")
        found.sort(key=lambda p: (p[0].lower() != needle, p[1]))
        resolutions = []
        for email, name, first, last, kind in found[:CANDIDATES_LIMIT]:
            res = el(t("Resolution"), children=[_mailbox(name, email, "Mailbox" if kind == "mailbox" else "Contact")])
            if full:
                source = "ActiveDirectory" if kind == "mailbox" else "Store"
                res.append(_contact(name, email, first, last, source))
            resolutions.append(res)
        rset = el(
            m("ResolutionSet"),
            attrs={
                "TotalItemsInView": str(len(found)),
                "IncludesLastItemInRange": "true" if len(found) <= CANDIDATES_LIMIT else "false",
            },
            children=resolutions,
        )
        msg = success("ResolveNames", [rset])
        if len(found) > 1:
            msg.set("ResponseClass", "Warning")
            msg.find(m("ResponseCode")).text = "ErrorNameResolutionMultipleResults"
            msg.insert(0, el(m("MessageText"), "Multiple results were found."))
        messages.append(msg)
    except EwsError as e:
        messages.append(error("ResolveNames", e))
    return response("ResolveNames", messages)
