"""The add-in's unified manifest for Microsoft 365 (``manifest.json``), rendered from the same checked values as
the XML manifest (``addin.manifest.addin_values()``), validated offline against Microsoft's JSON schema.

The mapping follows Microsoft's XML → JSON converter (``office-addin-manifest-converter``): ``<Permissions>
ReadWriteMailbox`` → ``authorization.permissions.resourceSpecific`` ``Mailbox.ReadWrite.User`` (Delegated);
``<Requirements>`` Mailbox 1.8 → ``extensions[].requirements.capabilities``; each ``ShowTaskpane`` button → a
``ribbons[]`` entry whose control's ``actionId`` names an ``openPage`` action of the task pane runtime;
``WebApplicationInfo`` → ``webApplicationInfo`` (plus ``nestedAppAuthInfo`` with the NAA redirect URI and our API
scope); ``<AppDomains>`` → ``validDomains``. The XML version's four numbers become semver (the first three).

The app package an admin uploads is a zip with ``manifest.json`` and the two icons it names (``color.png``
192 x 192, ``outline.png`` 32 x 32): ``app_package()``.

Reference: https://learn.microsoft.com/en-us/office/dev/add-ins/develop/unified-manifest-overview and
https://learn.microsoft.com/en-us/microsoft-365/extensibility/schema/
"""

from __future__ import annotations

import io
import json
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from addin import icons
from addin.manifest import MAILBOX_MIN_VERSION, PERMISSION, AddinValues, addin_values

MANIFEST_VERSION = "1.24"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "unified" / "MicrosoftTeams.schema.json"
SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
# XML permission -> unified manifest resource-specific permission (the converter's table, mail apps).
PERMISSIONS = {
    "Restricted": "MailboxItem.Restricted.User",
    "ReadItem": "MailboxItem.Read.User",
    "ReadWriteItem": "MailboxItem.ReadWrite.User",
    "ReadWriteMailbox": "Mailbox.ReadWrite.User",
}
ACCENT_COLOR = "#0F6CBD"  # the icon's tile colour
RUNTIME_ID = "TaskPaneRuntime"
ACTION_ID = "ShowTaskPane"
# The desktop surfaces of the XML manifest's ExtensionPoints, by unified-manifest ribbon context.
DESKTOP_CONTEXTS = {
    "mailRead": "calsyncMessageRead",
    "meetingDetailsOrganizer": "calsyncOrganizer",
    "meetingDetailsAttendee": "calsyncAttendee",
}
BUTTON_LABEL = "Salesforce"
BUTTON_TOOLTIP = "Share this meeting with Salesforce, link it to contacts and opportunities, and sync now."
MOBILE_ICONS = [(25, 1, 25), (25, 2, 50), (25, 3, 75), (32, 1, 32), (32, 2, 64), (32, 3, 96), (48, 1, 48)]
MOBILE_ICONS += [(48, 2, 96), (48, 3, 144)]


def semver(version: str) -> str:
    """The XML manifest's version (up to four numbers) as semver: its first three numbers."""
    numbers = (version.split(".") + ["0", "0", "0"])[:3]
    return ".".join(str(int(n)) for n in numbers)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def unified_manifest(addin: AddinValues) -> dict[str, Any]:
    """The unified manifest (a JSON-ready dict) for the add-in."""
    desktop_icons = [{"size": size, "url": addin.icon_url(size)} for size in (16, 32, 80)]
    capabilities = [{"name": "Mailbox", "minVersion": MAILBOX_MIN_VERSION}]

    def ribbon(context: str, prefix: str) -> dict[str, Any]:
        control = {
            "id": f"{prefix}Button",
            "type": "button",
            "label": BUTTON_LABEL,
            "icons": desktop_icons,
            "supertip": {"title": BUTTON_LABEL, "description": BUTTON_TOOLTIP},
            "actionId": ACTION_ID,
        }
        group = {"id": f"{prefix}Group", "label": _short(addin.display_name, 64), "controls": [control]}
        return {
            "requirements": {"formFactors": ["desktop"]},
            "contexts": [context],
            "tabs": [{"builtInTabId": "TabDefault", "groups": [group]}],
        }

    mobile_button = {
        "id": "calsyncMobileMessageReadButton",
        "type": "mobileButton",
        "label": BUTTON_LABEL,
        "icons": [{"size": size, "scale": scale, "url": addin.icon_url(file)} for size, scale, file in MOBILE_ICONS],
        "actionId": ACTION_ID,
    }
    mobile_group = {"id": "calsyncMobileMessageReadGroup", "label": _short(addin.display_name, 64)}
    mobile_ribbon = {
        "requirements": {"formFactors": ["mobile"]},
        "contexts": ["mailRead"],
        "tabs": [
            {
                "id": "calsyncMobileTab",
                "label": BUTTON_LABEL,
                "customMobileRibbonGroups": [{**mobile_group, "controls": [mobile_button]}],
            }
        ],
    }
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": semver(addin.version),
        "id": addin.app_id,
        "localizationInfo": {"defaultLanguageTag": "en-us"},
        "developer": {
            "name": _short(addin.provider_name, 32),
            "websiteUrl": addin.taskpane_url,
            "privacyUrl": addin.taskpane_url,
            "termsOfUseUrl": addin.taskpane_url,
        },
        "name": {"short": _short(addin.display_name, 30), "full": _short(addin.display_name, 100)},
        "description": {"short": _short(addin.description, 80), "full": addin.description},
        "icons": {"outline": "outline.png", "color": "color.png"},
        "accentColor": ACCENT_COLOR,
        "validDomains": [addin.origin],
        "webApplicationInfo": {
            "id": addin.client_id,
            "resource": addin.resource,
            "nestedAppAuthInfo": [{"redirectUri": addin.naa_redirect_uri, "scopes": [addin.api_scope]}],
        },
        "authorization": {
            "permissions": {"resourceSpecific": [{"name": PERMISSIONS[PERMISSION], "type": "Delegated"}]}
        },
        "extensions": [
            {
                "requirements": {"scopes": ["mail"], "capabilities": capabilities},
                "runtimes": [
                    {
                        "requirements": {"capabilities": capabilities},
                        "id": RUNTIME_ID,
                        "type": "general",
                        "code": {"page": addin.taskpane_url},
                        "lifetime": "short",
                        "actions": [
                            {"id": ACTION_ID, "type": "openPage", "displayName": BUTTON_LABEL, "pinnable": True}
                        ],
                    }
                ],
                "ribbons": [ribbon(c, p) for c, p in DESKTOP_CONTEXTS.items()] + [mobile_ribbon],
            }
        ],
    }


def render_unified_manifest(base_url: str, **options) -> str:
    """``manifest.json`` text for an add-in served from ``base_url``; ``options`` as for ``addin_values()``."""
    return json.dumps(unified_manifest(addin_values(base_url, **options)), indent=2, ensure_ascii=False) + "\n"


@cache
def _validator():
    from jsonschema import Draft4Validator, Draft6Validator, FormatChecker, validators

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # The schema says draft-04 but pins manifestVersion with draft-06's "const" (its only later keyword), which a
    # plain draft-04 validator would ignore: honour it, as Microsoft's own validation does.
    validator = validators.extend(Draft4Validator, {"const": Draft6Validator.VALIDATORS["const"]})
    return validator(schema, format_checker=FormatChecker())


def validate_unified_manifest(manifest: str | dict[str, Any]) -> list[str]:
    """Schema errors of a unified manifest (``path: message``); an empty list means it is valid."""
    if isinstance(manifest, str):
        try:
            manifest = json.loads(manifest)
        except json.JSONDecodeError as exc:
            return [f"not JSON: {exc}"]
    errors = sorted(_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def app_package(manifest_json: str) -> bytes:
    """The zip an admin uploads in the Microsoft 365 admin center: manifest.json and its two icons."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", manifest_json)
        package.writestr("color.png", icons.png(192))
        package.writestr("outline.png", icons.png(32))
    return buffer.getvalue()
