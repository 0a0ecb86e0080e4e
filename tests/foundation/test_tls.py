import socket
import ssl

import pytest
import requests

from sandbox.server import ServerThread
from sandbox.tls import make_tls_files


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_certificate_is_trusted_only_through_the_sandbox_ca(tmp_path):
    files = make_tls_files(tmp_path)
    assert oct(files.key_file.stat().st_mode & 0o777) == "0o600"
    with ServerThread(_hello, ssl_context=files.server_context()) as server:
        trusted = requests.Session()
        trusted.trust_env = False
        trusted.verify = str(files.ca_file)
        assert trusted.get(server.url).text == "hello"
        ip_url = server.url.replace("localhost", "127.0.0.1")
        assert trusted.get(ip_url).text == "hello"

        system_only = requests.Session()
        system_only.trust_env = False  # REQUESTS_CA_BUNDLE must not sneak a CA in
        with pytest.raises(requests.exceptions.SSLError):
            system_only.get(server.url)


def test_server_stops_and_frees_its_port(tmp_path):
    server = ServerThread(_hello)
    port = server.port
    server.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_hostname_mismatch_is_refused(tmp_path):
    files = make_tls_files(tmp_path, ("calsync.invalid",))
    context = ssl.create_default_context(cafile=str(files.ca_file))
    with ServerThread(_hello, ssl_context=files.server_context()) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            with pytest.raises(ssl.SSLCertVerificationError):
                context.wrap_socket(raw, server_hostname="other.invalid").do_handshake()
