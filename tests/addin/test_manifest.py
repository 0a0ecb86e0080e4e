"""The rendered add-in manifest: valid against Microsoft's schemas (bundled in addin/schema/) and right for us."""

from __future__ import annotations

import filecmp
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from addin import icons
from addin.manifest import (
    ADDIN_DIR,
    DEFAULT_APP_ID,
    ManifestError,
    render_manifest,
    validate_manifest,
)

BASE = "https://calsync.example.com"
CLIENT_ID = "7c1d7a52-0000-4000-8000-00000000c0de"
NS = {
    "o": "http://schemas.microsoft.com/office/appforoffice/1.1",
    "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
    "v10": "http://schemas.microsoft.com/office/mailappversionoverrides",
    "v11": "http://schemas.microsoft.com/office/mailappversionoverrides/1.1",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
XSI_TYPE = f"{{{NS['xsi']}}}type"
SHARED_SCHEMAS = ADDIN_DIR.parent.parent / "shared" / "office-manifest-schema"


@pytest.fixture(scope="module")
def xml() -> str:
    return render_manifest(BASE, client_id=CLIENT_ID)


@pytest.fixture(scope="module")
def root(xml):
    return etree.fromstring(xml.encode())


def inner_overrides(root):
    (node,) = root.xpath("/o:OfficeApp/v10:VersionOverrides/v11:VersionOverrides", namespaces=NS)
    return node


def resources(root) -> dict[str, str]:
    """resid -> value of every resource the VersionOverrides define."""
    return {
        node.get("id"): node.get("DefaultValue")
        for node in inner_overrides(root).xpath("v11:Resources/*/*", namespaces=NS)
    }


def all_urls(root) -> list[str]:
    urls = [v for v in root.xpath("//@DefaultValue") if "://" in v]
    urls += root.xpath("//o:AppDomain/text()", namespaces=NS)
    return urls


# -- the schema -------------------------------------------------------------------------------------------
def test_the_rendered_manifest_is_valid_against_the_schema(xml):
    assert validate_manifest(xml) == []


@pytest.mark.parametrize(
    "old, new",
    [
        ("<Permissions>ReadWriteMailbox</Permissions>", "<Permissions>Everything</Permissions>"),
        ('xsi:type="AppointmentAttendeeCommandSurface"', 'xsi:type="NoSuchSurface"'),
        ('<bt:Image size="48" scale="3" resid="icon144"/>', ""),  # mobile icon lists need all nine
        ("<DefaultLocale>en-US</DefaultLocale>", ""),
    ],
)
def test_the_schema_check_catches_broken_manifests(xml, old, new):
    assert old in xml
    assert validate_manifest(xml.replace(old, new, 1)) != []


def test_not_well_formed_xml_is_reported_not_raised():
    assert validate_manifest("<OfficeApp>")[0].startswith("not well-formed XML")


def test_the_bundled_schemas_match_the_shared_copy_when_it_is_there():
    bundled = sorted(p.name for p in (ADDIN_DIR / "schema").glob("*.xsd"))
    assert "OfficeAppManifestV1_1.xsd" in bundled and len(bundled) == 6
    if SHARED_SCHEMAS.is_dir():  # only next to the shared folder; CI's clean clone relies on the bundle
        for name in bundled:
            assert filecmp.cmp(ADDIN_DIR / "schema" / name, SHARED_SCHEMAS / name, shallow=False), name


# -- what we need from it ---------------------------------------------------------------------------------
def test_it_is_a_mail_app_asking_for_read_write_mailbox_on_mailbox_1_8(root):
    assert root.get(XSI_TYPE) == "MailApp"
    assert root.findtext("o:Permissions", namespaces=NS) == "ReadWriteMailbox"
    (requirement,) = root.xpath("o:Requirements/o:Sets/o:Set", namespaces=NS)
    assert (requirement.get("Name"), requirement.get("MinVersion")) == ("Mailbox", "1.8")
    (sets,) = inner_overrides(root).xpath("v11:Requirements/bt:Sets", namespaces=NS)
    assert sets.get("DefaultMinVersion") == "1.8"
    assert [s.get("Name") for s in sets] == ["Mailbox"]
    assert root.xpath("o:Hosts/o:Host/@Name", namespaces=NS) == ["Mailbox"]


def test_the_task_pane_opens_on_the_three_desktop_surfaces_and_mobile_message_read(root):
    overrides = inner_overrides(root)
    desktop = overrides.xpath(".//v11:DesktopFormFactor/v11:ExtensionPoint", namespaces=NS)
    assert {p.get(XSI_TYPE) for p in desktop} == {
        "MessageReadCommandSurface",
        "AppointmentOrganizerCommandSurface",
        "AppointmentAttendeeCommandSurface",
    }
    mobile = overrides.xpath(".//v11:MobileFormFactor/v11:ExtensionPoint", namespaces=NS)
    assert [p.get(XSI_TYPE) for p in mobile] == ["MobileMessageReadCommandSurface"]
    for point in desktop + mobile:
        actions = point.xpath(".//v11:Action", namespaces=NS)
        assert actions, point.get(XSI_TYPE)
        for action in actions:
            assert action.get(XSI_TYPE) == "ShowTaskpane"
            assert action.find("v11:SourceLocation", NS).get("resid") == "taskpaneUrl"
    assert resources(root)["taskpaneUrl"] == f"{BASE}/addin/taskpane.html"


def test_web_application_info_enables_sso_for_our_api_and_comes_last(root):
    overrides = inner_overrides(root)
    last = overrides[-1]
    assert etree.QName(last).localname == "WebApplicationInfo"
    assert last.findtext("v11:Id", namespaces=NS) == CLIENT_ID
    assert last.findtext("v11:Resource", namespaces=NS) == f"api://calsync.example.com/{CLIENT_ID}"
    assert last.xpath("v11:Scopes/v11:Scope/text()", namespaces=NS) == ["openid", "profile"]


def test_ids_are_guids(root):
    for value in [root.findtext("o:Id", namespaces=NS), inner_overrides(root).findtext(".//v11:Id", namespaces=NS)]:
        assert str(uuid.UUID(value)) == value
    assert root.findtext("o:Id", namespaces=NS) == DEFAULT_APP_ID


def test_every_url_is_https_under_the_base(root):
    urls = all_urls(root)
    assert len(urls) > 15
    for url in urls:
        assert url.startswith("https://"), url
        assert url == BASE or url.startswith(f"{BASE}/addin/"), url
    assert root.xpath("//o:AppDomain/text()", namespaces=NS) == [BASE]


def test_every_resid_is_defined_and_every_resource_used(root):
    defined = resources(root)
    used = set(root.xpath("//@resid"))
    assert used <= set(defined), used - set(defined)
    assert set(defined) <= used, set(defined) - used
    assert all(len(resid) <= 32 for resid in defined)


def test_every_icon_exists_with_the_size_it_is_declared_at(root):
    defined = resources(root)

    def icon_file(url: str) -> Path:
        assert url.startswith(f"{BASE}/addin/assets/"), url
        return ADDIN_DIR / "taskpane" / urlsplit(url).path.removeprefix("/addin/")

    images = root.xpath("//bt:Image[@size]", namespaces=NS)
    assert len(images) == 3 * 3 + 9  # three desktop buttons, nine mobile variants
    for image in images:
        expected = int(image.get("size")) * int(image.get("scale", "1"))
        data = icon_file(defined[image.get("resid")]).read_bytes()
        assert icons.png_size(data) == (expected, expected), image.get("resid")
    for element, size in [("o:IconUrl", 64), ("o:HighResolutionIconUrl", 128)]:
        url = root.find(element, NS).get("DefaultValue")
        assert icons.png_size(icon_file(url).read_bytes()) == (size, size)


def test_icons_are_committed_for_every_size_and_regenerate_identically():
    for size in icons.SIZES:
        assert icons.png_size(icons.icon_path(size).read_bytes()) == (size, size)
    assert icons.png(16) == icons.icon_path(16).read_bytes()


# -- rendering choices ------------------------------------------------------------------------------------
def test_a_base_url_with_a_path_keeps_it_and_sheds_the_trailing_slash():
    root = etree.fromstring(render_manifest("https://example.com/calsync/", client_id=CLIENT_ID).encode())
    assert resources(root)["taskpaneUrl"] == "https://example.com/calsync/addin/taskpane.html"
    assert root.xpath("//o:AppDomain/text()", namespaces=NS) == ["https://example.com"]


def test_explicit_values_are_escaped_and_round_trip():
    name = 'Sales & "Calendar" <Sync>'
    xml = render_manifest(BASE, client_id=CLIENT_ID, display_name=name, resource=f"api://idp.example/{CLIENT_ID}")
    root = etree.fromstring(xml.encode())
    assert root.find("o:DisplayName", NS).get("DefaultValue") == name
    assert inner_overrides(root).findtext(".//v11:Resource", namespaces=NS) == f"api://idp.example/{CLIENT_ID}"
    assert validate_manifest(xml) == []


def test_http_localhost_is_allowed_for_local_previews_only():
    xml = render_manifest("http://localhost:8000", client_id=CLIENT_ID, production=False)
    assert validate_manifest(xml) == []
    with pytest.raises(ManifestError, match="https in production"):
        render_manifest("http://localhost:8000", client_id=CLIENT_ID)


@pytest.mark.parametrize(
    "base_url, kwargs, message",
    [
        ("http://calsync.example.com", {"production": False}, "except for localhost"),
        ("ftp://calsync.example.com", {}, "absolute https"),
        ("calsync.example.com", {}, "absolute https"),
        ("https://calsync.example.com/?x=1", {}, "query string"),
        ("https://calsync.example.com/#top", {}, "query string"),
        ("https://user:pw@calsync.example.com", {}, "user name"),
        ("https://calsync.example.com:99999", {}, "not a valid URL"),
        ('https://calsync.example.com/"><x', {}, "characters"),
        (BASE, {"client_id": "not-a-guid"}, "GUID"),
        (BASE, {"app_id": "123"}, "GUID"),
        (BASE, {"scopes": ["openid", "bad scope<"]}, "scopes"),
        (BASE, {"scopes": []}, "scopes"),
        (BASE, {"version": "1.0-beta"}, "version"),
        (BASE, {"display_name": "x" * 126}, "display name"),
        (BASE, {"resource": "javascript:alert(1)"}, "application ID URI"),
    ],
)
def test_bad_values_are_refused_with_a_message(base_url, kwargs, message):
    with pytest.raises(ManifestError, match=message):
        render_manifest(base_url, **{"client_id": CLIENT_ID, **kwargs})
