"""Render the Outlook add-in manifest (``addin/manifest.xml``) for a base URL, and validate it offline.

``addin_values()`` checks every value the add-in's manifests carry (the one source of truth for both formats;
``addin/unified_manifest.py`` renders the JSON one from the same values). ``render_manifest()`` fills the
template's ``${...}`` fields with them, XML-escaped, so the result is well-formed whatever the caller passes.
``validate_manifest()`` checks a manifest against the Microsoft XML schemas bundled in ``addin/schema/``
(``office-addin-manifest validate`` needs a web service; this does not). ``calsync addin-manifest`` is the
command-line face of both formats.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from string import Template
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from lxml import etree

ADDIN_DIR = Path(__file__).resolve().parent
TEMPLATE_PATH = ADDIN_DIR / "manifest.xml"
SCHEMA_PATH = ADDIN_DIR / "schema" / "OfficeAppManifestV1_1.xsd"

# The manifest <Id> identifies the add-in to Exchange for its whole life: keep it stable per deployment
# (CALSYNC_ADDIN_ID); a new Id means a new add-in for every user.
DEFAULT_APP_ID = "4d4668f0-7a64-47d1-bd54-a168a9a1b380"
# Permissions Office SSO asks consent for on behalf of the add-in; our API's own scope (access_as_user) is
# implied by the Resource.
DEFAULT_SCOPES = ("openid", "profile")
DEFAULT_DISPLAY_NAME = "Salesforce Sync"
DEFAULT_PROVIDER_NAME = "calsync"
DEFAULT_DESCRIPTION = (
    "Share Outlook meetings and appointments with Salesforce, link them to contacts, leads, accounts and "
    "opportunities, and keep both calendars in sync."
)

_LOOPBACK_HOSTS = {"localhost"}
_SCOPE = re.compile(r"^[A-Za-z0-9._:/\-]{1,250}$")
_VERSION = re.compile(r"^\d{1,5}(\.\d{1,5}){0,3}$")


class ManifestError(ValueError):
    """A value the manifest cannot carry; the message is meant for people."""


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(base_url: str, *, production: bool = True) -> str:
    """``base_url`` without a trailing slash; ManifestError unless it is an absolute https URL.

    Outside production, plain http is accepted for loopback hosts only (a local preview of the task pane;
    Outlook itself loads add-ins over https only).
    """
    raw = base_url.strip()
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ManifestError(f"base URL {base_url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ManifestError(f"base URL {base_url!r} must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ManifestError("base URL must not carry a user name or password")
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise ManifestError("base URL must not have a query string or fragment")
    if any(c.isspace() for c in raw) or any(c in raw for c in "<>\"'\\"):
        raise ManifestError(f"base URL {base_url!r} contains characters a URL cannot have")
    if parts.scheme == "http" and (production or not _is_loopback(parts.hostname)):
        where = "in production" if production else "except for localhost"
        raise ManifestError(f"base URL must use https {where}; Outlook loads add-ins over https only")
    return raw.rstrip("/")


def application_id_uri(base_url: str, client_id: str) -> str:
    """The Application ID URI Office SSO asks a token for: ``api://<host[:port]>/<client-id>``."""
    return f"api://{urlsplit(base_url).netloc}/{client_id}"


def _guid(name: str, value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise ManifestError(f"{name} must be a GUID like {DEFAULT_APP_ID}, not {value!r}") from None


def _text(name: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise ManifestError(f"{name} must be 1 to {limit} characters")
    if any(ord(c) < 32 for c in value):
        raise ManifestError(f"{name} must not contain control characters")
    return value


def _default_version() -> str:
    try:
        release = metadata.version("calsync")
    except metadata.PackageNotFoundError:
        return "1.0.0.0"
    numbers = re.findall(r"\d+", release)[:4]
    return ".".join((numbers + ["0", "0", "0", "0"])[:4])


# What the add-in is, whichever manifest format describes it.
PERMISSION = "ReadWriteMailbox"  # XML <Permissions>; the unified manifest's Mailbox.ReadWrite.User
MAILBOX_MIN_VERSION = "1.8"
API_SCOPE = "access_as_user"


@dataclass(frozen=True)
class AddinValues:
    """The checked values both manifests are rendered from (``addin_values()``): the one source of truth."""

    app_id: str
    version: str  # four numbers, as the XML manifest wants them
    provider_name: str
    display_name: str
    description: str
    base_url: str
    origin: str
    client_id: str
    resource: str
    scopes: tuple[str, ...]

    @property
    def taskpane_url(self) -> str:
        return f"{self.base_url}/addin/taskpane.html"

    def icon_url(self, size: int) -> str:
        return f"{self.base_url}/addin/assets/icon-{size}.png"

    @property
    def api_scope(self) -> str:
        """The delegated permission the task pane asks a token for (nested app authentication)."""
        return f"{self.resource}/{API_SCOPE}"

    @property
    def naa_redirect_uri(self) -> str:
        """The SPA redirect URI nested app authentication needs on the app registration."""
        return f"brk-multihub://{urlsplit(self.base_url).netloc}"


def addin_values(
    base_url: str,
    *,
    client_id: str,
    app_id: str = DEFAULT_APP_ID,
    resource: str | None = None,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    version: str | None = None,
    display_name: str = DEFAULT_DISPLAY_NAME,
    provider_name: str = DEFAULT_PROVIDER_NAME,
    description: str = DEFAULT_DESCRIPTION,
    production: bool = True,
) -> AddinValues:
    """The add-in's values for ``base_url``, each checked; ManifestError with a message for people otherwise.

    ``client_id`` is the add-in's app registration (WebApplicationInfo Id); ``resource`` defaults to
    ``api://<host>/<client-id>``. ``production=False`` allows http on loopback hosts for local previews.
    """
    base = normalise_base_url(base_url, production=production)
    client = _guid("client id", client_id)
    resource = application_id_uri(base, client) if resource is None else resource.strip()
    if not resource.startswith(("api://", "https://")) or len(resource) > 2048:
        raise ManifestError(f"resource {resource!r} must be an application ID URI (api://host/client-id)")
    scope_list = list(dict.fromkeys(s.strip() for s in scopes))
    bad = [s for s in scope_list if not _SCOPE.match(s)]
    if not scope_list or bad:
        raise ManifestError(f"scopes must be permission names such as openid or profile (bad: {bad})")
    version = version or _default_version()
    if not _VERSION.match(version):
        raise ManifestError(f"version must be up to four numbers separated by dots, not {version!r}")
    parts = urlsplit(base)
    return AddinValues(
        app_id=_guid("add-in id", app_id),
        version=version,
        provider_name=_text("provider name", provider_name, 125),
        display_name=_text("display name", display_name, 125),
        description=_text("description", description, 250),
        base_url=base,
        origin=f"{parts.scheme}://{parts.netloc}",
        client_id=client,
        resource=resource,
        scopes=tuple(scope_list),
    )


def render_manifest(base_url: str, **options) -> str:
    """The manifest XML for an add-in served from ``base_url`` (task pane and icons under ``{base}/addin/``);
    ``options`` are those of ``addin_values()``."""
    return render_xml(addin_values(base_url, **options))


def render_xml(addin: AddinValues) -> str:
    values = {
        "app_id": addin.app_id,
        "version": addin.version,
        "provider_name": addin.provider_name,
        "display_name": addin.display_name,
        "description": addin.description,
        "base_url": addin.base_url,
        "origin": addin.origin,
        "client_id": addin.client_id,
        "resource": addin.resource,
        "scopes": "\n".join(f"          <Scope>{escape(s)}</Scope>" for s in addin.scopes),
    }
    escaped = {k: v if k == "scopes" else escape(v, {'"': "&quot;"}) for k, v in values.items()}
    xml = Template(TEMPLATE_PATH.read_text(encoding="utf-8")).substitute(escaped)
    etree.fromstring(xml.encode())  # well-formed by construction; fail here rather than in Outlook
    return xml


@cache
def _schema() -> etree.XMLSchema:
    # Parsed from its file so that the schema's relative imports resolve inside addin/schema/.
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def validate_manifest(xml: str | bytes) -> list[str]:
    """Schema errors of a manifest (``line N: message``); an empty list means it is structurally valid."""
    data = xml.encode() if isinstance(xml, str) else xml
    try:
        document = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    schema = _schema()
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
