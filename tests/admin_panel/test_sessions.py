"""Finding 8: admin sessions end at logout and at a password change, copied cookies included."""

from __future__ import annotations

from click.testing import CliRunner

from calsync.cli import main
from tests.admin_panel.conftest import ADMIN, csrf_of, log_in

COOKIE = "calsync_admin"


def _copy_cookie(source, target) -> None:
    target.set_cookie(COOKIE, source.get_cookie(COOKIE).value)


def test_a_cookie_copied_before_logout_is_refused_after_it(app, client):
    assert log_in(client, *ADMIN).status_code == 303
    thief = app.test_client()
    _copy_cookie(client, thief)
    assert thief.get("/admin/").status_code == 200  # the copy works while the session lives
    assert client.post("/admin/logout", data={"csrf_token": csrf_of(client.get("/admin/"))}).status_code == 303
    answer = thief.get("/admin/")
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]
    # Logging in again gives a working session (of the new generation).
    assert log_in(client, *ADMIN).status_code == 303
    assert client.get("/admin/").status_code == 200


def test_a_password_change_ends_every_session_of_the_account(app, client, panel_settings):
    assert log_in(client, *ADMIN).status_code == 303
    assert client.get("/admin/").status_code == 200
    env = {"DATABASE_URL": panel_settings.database_url}
    result = CliRunner().invoke(main, ["admin", "create", ADMIN[0], "--password-stdin"], env=env,
                                input="a-new-password-2\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = client.get("/admin/")
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]
    assert log_in(client, ADMIN[0], "a-new-password-2").status_code == 303
    assert client.get("/admin/").status_code == 200
