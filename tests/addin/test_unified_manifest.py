"""The unified manifest for Microsoft 365: valid against Microsoft's JSON schema (vendored in addin/schema/unified/)
and the same add-in as the XML manifest, both rendered by ``calsync addin-manifest`` from one set of values."""

from __future__ import annotations

import filecmp
import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from addin import icons
from addin.manifest import ADDIN_DIR, render_manifest, validate_manifest
from addin.unified_manifest import (
    MANIFEST_VERSION,
    SCHEMA_PATH,
    render_unified_manifest,
    semver,
    validate_unified_manifest,
)
from calsync.cli.web import addin_manifest as cli
from tests.addin.test_manifest import BASE, CLIENT_ID, NS, XSI_TYPE, all_urls, inner_overrides, resources

# The command reads Settings.from_env(): keep this machine's environment out of it.
CLEAN_ENV = {"CALSYNC_SANDBOX_INFO": None, "CALSYNC_ENV": "test", "CALSYNC_PUBLIC_URL": None}
NPM_SCHEMA = ADDIN_DIR / "node_modules/@microsoft/app-manifest/build/json-schemas/teams"
OPTIONS = {"client_id": CLIENT_ID, "version": "2.3.4.0"}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(render_unified_manifest(BASE, **OPTIONS))


@pytest.fixture(scope="module")
def xml_root():
    return etree.fromstring(render_manifest(BASE, **OPTIONS).encode())


def test_the_unified_manifest_is_valid_against_microsofts_schema(manifest):
    assert manifest["manifestVersion"] == MANIFEST_VERSION
    assert manifest["$schema"].endswith(f"/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json")
    assert validate_unified_manifest(manifest) == []


@pytest.mark.parametrize(
    "path, value",
    [
        (("manifestVersion",), "1.17"),  # the schema pins its own version
        (("id",), "not-a-guid"),
        (("authorization", "permissions", "resourceSpecific", 0, "type"), "Everything"),
        (("extensions", 0, "ribbons", 0, "contexts", 0), "noSuchContext"),
        (("webApplicationInfo", "nestedAppAuthInfo", 0, "scopes"), "access_as_user"),  # must be a list
        (("name", "short"), "x" * 31),
    ],
)
def test_the_schema_check_catches_broken_manifests(manifest, path, value):
    broken = json.loads(json.dumps(manifest))
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert validate_unified_manifest(broken) != []


def test_not_json_is_reported_not_raised():
    assert validate_unified_manifest("{")[0].startswith("not JSON")


def test_both_manifests_describe_the_same_add_in(manifest, xml_root):
    # id and version
    assert manifest["id"] == xml_root.findtext("o:Id", namespaces=NS)
    assert manifest["version"] == semver(xml_root.findtext("o:Version", namespaces=NS)) == "2.3.4"
    # names
    assert manifest["name"]["full"] == xml_root.find("o:DisplayName", NS).get("DefaultValue")
    assert manifest["developer"]["name"] == xml_root.findtext("o:ProviderName", namespaces=NS)
    # permissions and requirements
    assert xml_root.findtext("o:Permissions", namespaces=NS) == "ReadWriteMailbox"
    assert manifest["authorization"]["permissions"]["resourceSpecific"] == [
        {"name": "Mailbox.ReadWrite.User", "type": "Delegated"}
    ]
    (extension,) = manifest["extensions"]
    (xml_set,) = xml_root.xpath("o:Requirements/o:Sets/o:Set", namespaces=NS)
    assert extension["requirements"]["capabilities"] == [
        {"name": xml_set.get("Name"), "minVersion": xml_set.get("MinVersion")}
    ]
    # the task pane URL, the icons and the domains
    (runtime,) = extension["runtimes"]
    assert runtime["code"]["page"] == resources(xml_root)["taskpaneUrl"] == f"{BASE}/addin/taskpane.html"
    json_icon_urls = {icon["url"] for r in extension["ribbons"] for c in _controls(r) for icon in c["icons"]}
    xml_icon_urls = {v for k, v in resources(xml_root).items() if k.startswith("icon")}
    assert json_icon_urls == xml_icon_urls
    assert manifest["validDomains"] == xml_root.xpath("//o:AppDomain/text()", namespaces=NS) == [BASE]
    json_urls = {runtime["code"]["page"], *json_icon_urls, *manifest["developer"].values()} - {"calsync"}
    assert json_urls <= set(all_urls(xml_root))
    # the same surfaces: three desktop ribbons, message read on mobile, each opening the task pane
    desktop = [p.get(XSI_TYPE) for p in inner_overrides(xml_root).xpath(".//v11:DesktopFormFactor/*", namespaces=NS)]
    contexts = {
        "MessageReadCommandSurface": "mailRead",
        "AppointmentOrganizerCommandSurface": "meetingDetailsOrganizer",
        "AppointmentAttendeeCommandSurface": "meetingDetailsAttendee",
    }
    ribbons = extension["ribbons"]
    assert [r["contexts"] for r in ribbons if r["requirements"]["formFactors"] == ["desktop"]] == [
        [contexts[p]] for p in desktop
    ]
    assert [r["contexts"] for r in ribbons if r["requirements"]["formFactors"] == ["mobile"]] == [["mailRead"]]
    actions = {a["id"] for a in runtime["actions"] if a["type"] == "openPage"}
    assert {c["actionId"] for r in ribbons for c in _controls(r)} == actions
    # the app registration, the API and nested app authentication
    info = inner_overrides(xml_root).find("v11:WebApplicationInfo", NS)
    web_app = manifest["webApplicationInfo"]
    assert web_app["id"] == info.findtext("v11:Id", namespaces=NS) == CLIENT_ID
    assert web_app["resource"] == info.findtext("v11:Resource", namespaces=NS)
    assert web_app["nestedAppAuthInfo"] == [
        {"redirectUri": "brk-multihub://calsync.example.com", "scopes": [f"{web_app['resource']}/access_as_user"]}
    ]


def _controls(ribbon: dict) -> list[dict]:
    controls = []
    for tab in ribbon["tabs"]:
        for group in tab.get("groups", []) + tab.get("customMobileRibbonGroups", []):
            controls += group["controls"]
    return controls


def test_semver_takes_the_first_three_numbers():
    assert [semver(v) for v in ("1", "1.2", "1.2.3.4", "01.002.3")] == ["1.0.0", "1.2.0", "1.2.3", "1.2.3"]


def test_the_cli_renders_both_formats_and_the_app_package(tmp_path):
    runner = CliRunner(env=CLEAN_ENV)
    common = ["--base-url", BASE, "--client-id", CLIENT_ID]
    xml = runner.invoke(cli, common, catch_exceptions=False)
    assert xml.exit_code == 0, xml.output
    assert validate_manifest(xml.stdout) == []
    unified = runner.invoke(cli, [*common, "--format", "unified"], catch_exceptions=False)
    assert unified.exit_code == 0, unified.output
    manifest = json.loads(unified.stdout)
    assert validate_unified_manifest(manifest) == []
    assert manifest["webApplicationInfo"]["id"] == CLIENT_ID

    package = tmp_path / "calsync-addin.zip"
    packaged = runner.invoke(cli, [*common, "--format", "unified", "-o", str(package)], catch_exceptions=False)
    assert packaged.exit_code == 0, packaged.output
    with zipfile.ZipFile(io.BytesIO(package.read_bytes())) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert json.loads(archive.read("manifest.json")) == manifest
        assert icons.png_size(archive.read("color.png")) == (192, 192)
        assert icons.png_size(archive.read("outline.png")) == (32, 32)
        assert set(manifest["icons"].values()) == {"color.png", "outline.png"}


def test_the_cli_refuses_a_bad_base_url_for_the_unified_manifest_too():
    args = ["--base-url", "http://calsync.example.com", "--client-id", CLIENT_ID, "--format", "unified"]
    answer = CliRunner(env=CLEAN_ENV).invoke(cli, args)
    assert answer.exit_code != 0 and "https" in answer.output


def test_the_vendored_schema_is_microsofts_file_when_the_npm_package_is_installed():
    assert json.loads(SCHEMA_PATH.read_text())["properties"]["manifestVersion"]["const"] == MANIFEST_VERSION
    npm_copy = NPM_SCHEMA / f"v{MANIFEST_VERSION}" / "MicrosoftTeams.schema.json"
    if not npm_copy.exists():  # only after `cd addin && npm ci`; the clean clone relies on the vendored file
        pytest.skip("addin/node_modules is not installed")
    assert filecmp.cmp(SCHEMA_PATH, npm_copy, shallow=False)
    assert Path(SCHEMA_PATH.parent / "README.md").read_text().count("MIT") >= 1
