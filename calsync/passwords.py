"""Passwords for the CLI: prompted (hidden) or read from standard input, never taken as an argument.

An argument lands in shell history, ``ps`` output and audit logs of the machine; standard input does not
(``printf '%s\\n' "$PASSWORD" | calsync admin create EMAIL --password-stdin``).
"""

from __future__ import annotations

import sys

import click

STDIN_HELP = "Read the password from the first line of standard input instead of prompting (for scripts)."


def password_stdin_option(func):
    return click.option("--password-stdin", "password_stdin", is_flag=True, help=STDIN_HELP)(func)


def read_password(label: str, *, from_stdin: bool, confirm: bool = False) -> str:
    """The password typed at a hidden prompt (twice when ``confirm``), or the first line of standard input."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise click.ClickException("--password-stdin: standard input held no password")
        return password
    return click.prompt(label, hide_input=True, confirmation_prompt=confirm)
