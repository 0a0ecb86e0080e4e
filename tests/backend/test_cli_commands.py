"""``calsync serve`` and ``calsync addin-manifest`` (tested as standalone click commands)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from addin.manifest import validate_manifest
from backend.globals import runtime_of
from calsync.cli import web

CLIENT_ID = "7c1d7a52-0000-4000-8000-00000000c0de"
# The commands read Settings.from_env(): keep this machine's environment out of it.
CLEAN_ENV = {"CALSYNC_SANDBOX_INFO": None, "CALSYNC_ENV": None, "CALSYNC_PUBLIC_URL": None}


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize("command", [web.serve, web.addin_manifest])
def test_help(runner, command):
    result = runner.invoke(command, ["--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_addin_manifest_prints_a_valid_manifest(runner):
    args = ["--base-url", "https://calsync.example.com/", "--client-id", CLIENT_ID]
    result = runner.invoke(web.addin_manifest, args, env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert validate_manifest(result.stdout) == []
    assert "https://calsync.example.com/addin/taskpane.html" in result.stdout
    assert f"api://calsync.example.com/{CLIENT_ID}" in result.stdout


def test_addin_manifest_writes_a_file_and_reads_defaults_from_settings(runner, tmp_path):
    output = tmp_path / "out" / "manifest.xml"
    env = {**CLEAN_ENV, "CALSYNC_PUBLIC_URL": "https://calsync.example.com", "CALSYNC_ADDIN_CLIENT_ID": CLIENT_ID}
    result = runner.invoke(web.addin_manifest, ["--output", str(output)], env=env)
    assert result.exit_code == 0, result.output
    assert validate_manifest(output.read_bytes()) == []


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--client-id", CLIENT_ID], {}, "--base-url"),
        (["--base-url", "https://x.example"], {"CALSYNC_ADDIN_CLIENT_ID": None}, "--client-id"),
        (["--base-url", "http://calsync.example.com", "--client-id", CLIENT_ID], {}, "https"),
        (["--base-url", "https://x.example", "--client-id", "not-a-guid"], {}, "GUID"),
        (
            ["--base-url", "http://localhost:8000", "--client-id", CLIENT_ID],
            {"CALSYNC_ENV": "production", "CALSYNC_SECRET_KEY": "s" * 40},
            "https in production",
        ),
    ],
)
def test_addin_manifest_refuses_bad_input_with_a_message(runner, args, env, message):
    result = runner.invoke(web.addin_manifest, args, env={**CLEAN_ENV, **env})
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_addin_manifest_allows_http_localhost_outside_production(runner):
    args = ["--base-url", "http://localhost:8000", "--client-id", CLIENT_ID]
    result = runner.invoke(web.addin_manifest, args, env=CLEAN_ENV)
    assert result.exit_code == 0, result.output


def test_serve_migrates_and_runs_the_app(runner, tmp_path, monkeypatch):
    calls = {}

    def fake_run_simple(host, port, app, **kwargs):
        calls.update(host=host, port=port, app=app, **kwargs)

    monkeypatch.setattr("werkzeug.serving.run_simple", fake_run_simple)
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    result = runner.invoke(web.serve, ["--port", "8123"], env={**CLEAN_ENV, "DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1" and calls["port"] == 8123
    assert calls["use_debugger"] is False and calls["ssl_context"] is None
    assert "/api/v1/health" in result.output
    assert (tmp_path / "serve.db").exists()  # migrated before serving
    runtime_of(calls["app"]).close()


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--debug"], {"CALSYNC_ENV": "production", "CALSYNC_SECRET_KEY": "s" * 40}, "--debug is refused"),
        (["--cert-file", __file__], {}, "go together"),
    ],
)
def test_serve_refuses_unsafe_or_incomplete_options(runner, args, env, message):
    result = runner.invoke(web.serve, args, env={**CLEAN_ENV, **env})
    assert result.exit_code != 0
    assert message in result.output
