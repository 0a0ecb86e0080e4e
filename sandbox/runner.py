"""Start the Salesforce, Exchange (EWS and Microsoft Graph) and identity sandboxes together, seeded
consistently, and describe them.

``start_sandboxes()`` is what ``calsync sandbox`` and ``calsync demo`` run, and what integration tests use.
The returned ``info`` dict is the JSON written to the info file (see README, "Sandbox info file").
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from sandbox.server import ServerThread
from sandbox.tls import TLSFiles, make_tls_files


@dataclass
class SandboxOptions:
    state_dir: Path
    seed: str = "demo"
    host: str = "127.0.0.1"
    public_host: str = "localhost"
    # 0 picks a free port; the CLI uses fixed defaults so the demo's URLs stay the same.
    salesforce_port: int = 0
    exchange_port: int = 0
    exchange_https_port: int = 0
    identity_port: int = 0
    # None: identity_port + 1 when that is fixed (the CLI's 9446), else any free port.
    graph_port: int | None = None
    persist: bool = False  # keep sandbox state in files under state_dir across restarts
    validate_schema: bool = False
    salesforce_faults: dict[str, Any] = field(default_factory=dict)
    exchange_faults: dict[str, Any] = field(default_factory=dict)
    graph_faults: dict[str, Any] = field(default_factory=dict)
    salesforce_daily_budget: int = 100_000
    salesforce_page_size: int = 2000
    salesforce_session_timeout: float = 2 * 3600  # seconds an issued Salesforce session lives without use


@dataclass
class RunningSandboxes:
    info: dict[str, Any]
    tls: TLSFiles
    salesforce: Any
    exchange: Any
    identity: Any
    servers: list[ServerThread]
    graph: Any = None

    def write_info(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The file holds passwords and session ids of sandbox users: readable by its owner only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.info, f, indent=2)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        if self.graph is not None:
            self.graph.stop()
        if getattr(self, "exchange", None) is not None:
            self.exchange.stop()  # the EWS push-notification thread

    def __enter__(self) -> RunningSandboxes:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandboxes(options: SandboxOptions) -> RunningSandboxes:
    """Start all three sandboxes; on any failure, stop what already started and re-raise."""
    from sandbox.exchange import ExchangeSandbox
    from sandbox.graph import GraphSandbox
    from sandbox.identity import IdentityProvider
    from sandbox.salesforce import SalesforceSandbox
    from sandbox.salesforce.grants import make_jwt_keys

    state_dir = options.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    tls = make_tls_files(state_dir / "tls", (options.public_host,))
    context = tls.server_context()

    def state_file(name: str) -> Path | None:
        return state_dir / name if options.persist else None

    identity = IdentityProvider(key_file=state_dir / "identity-key.pem" if options.persist else None)
    salesforce = SalesforceSandbox(
        seed=options.seed,
        state_file=state_file("salesforce-state.json"),
        daily_budget=options.salesforce_daily_budget,
        page_size=options.salesforce_page_size,
        faults=options.salesforce_faults or None,
        jwt_keys=make_jwt_keys(state_dir),  # the JWT bearer app's key (info file) and registered certificate
        session_timeout=options.salesforce_session_timeout,
    )

    def bearer_user(token: str) -> str | None:
        """Exchange accepts identity-provider access tokens for the mailbox they name."""
        try:
            claims = jwt.decode(
                token,
                identity._key.public_key(),  # noqa: SLF001 - same process, same sandbox
                algorithms=["RS256"],
                options={"verify_aud": False},
            )
        except jwt.PyJWTError:
            return None
        return claims.get("preferred_username")

    exchange = ExchangeSandbox(
        seed=options.seed,
        state_file=state_file("exchange-state.pickle"),
        faults=options.exchange_faults or None,
        validate_schema=options.validate_schema,
        bearer_tokens=bearer_user,
    )
    graph = GraphSandbox(
        exchange=exchange,
        identity=identity,
        state_dir=state_dir / "graph",
        notification_ca_file=str(tls.ca_file),
        faults=options.graph_faults or None,
    )
    servers: list[ServerThread] = []
    try:

        def serve(app, port: int, tls_on: bool = True) -> ServerThread:
            server = ServerThread(
                app, options.host, port, ssl_context=context if tls_on else None, public_host=options.public_host
            )
            servers.append(server)
            return server

        sf_server = serve(salesforce.wsgi_app, options.salesforce_port)
        ex_https = serve(exchange.wsgi_app, options.exchange_https_port)
        ex_http = serve(exchange.wsgi_app, options.exchange_port, tls_on=False)
        id_server = serve(identity.wsgi_app, options.identity_port)
        graph_port = options.graph_port
        if graph_port is None:
            graph_port = options.identity_port + 1 if options.identity_port else 0
        graph_server = serve(graph.wsgi_app, graph_port)
    except BaseException:
        for server in servers:
            server.stop()
        raise

    sf_info = salesforce.info(sf_server.url)
    sf_info["ca_file"] = str(tls.ca_file)
    ex_info = exchange.info(f"{ex_https.url}/EWS/Exchange.asmx")
    ex_info["ca_file"] = str(tls.ca_file)
    ex_info["http_endpoint"] = f"{ex_http.url}/EWS/Exchange.asmx"
    id_info = identity.info(id_server.url)
    id_info["ca_file"] = str(tls.ca_file)
    graph_info = graph.info(graph_server.url, id_server.url)
    graph_info["ca_file"] = str(tls.ca_file)
    info = {"seed": options.seed, "salesforce": sf_info, "exchange": ex_info, "identity": id_info, "graph": graph_info}
    return RunningSandboxes(info, tls, salesforce, exchange, identity, servers, graph)
