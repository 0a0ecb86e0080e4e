"""The WSGI application: HTTP auth, the SOAP envelope, impersonation, fault injection, schema validation,
dispatch to the operation modules in ``services/``, and the small admin API under ``/__sandbox__``.

EWS reference: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-operations-in-exchange
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import select
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree
from werkzeug.wrappers import Request, Response

from . import versions
from .errors import EwsError, SoapFault
from .services import OPERATIONS, Context
from .xml import PARSER, SOAP, E, M, T, el, local, q, t

if TYPE_CHECKING:
    from . import ExchangeSandbox

log = logging.getLogger("sandbox.exchange")
EWS_PATH = "/EWS/Exchange.asmx"
ADMIN_PREFIX = "/__sandbox__"
SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "0",
    "MajorBuildNumber": "847",
    "MinorBuildNumber": "31",
    "Version": "Exchange2013_SP1",
}
WWW_AUTHENTICATE = 'Basic realm="calsync-sandbox", Bearer'
_IIS_500 = b"<html><body><h1>Server Error in '/EWS' Application.</h1><p>Injected fault.</p></body></html>"


class _Dropped(ConnectionAbortedError):
    """Raised after closing the client socket: werkzeug treats it as a dropped connection."""


AFFINITY_COOKIE = "sandbox-mailbox-server~1"


def _peer_closed(environ) -> Callable[[], bool]:
    """Whether the client of this (streaming) request hung up. A client sends nothing after its request, so a
    readable socket means a FIN or a TLS close_notify: the client is gone."""
    sock = environ.get("werkzeug.socket")

    def check() -> bool:
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    return check


class EwsApp:
    def __init__(self, sandbox: ExchangeSandbox) -> None:
        self.sandbox = sandbox

    def __call__(self, environ, start_response):
        request = Request(environ)
        # _Dropped propagates: werkzeug then ends the connection without writing a response.
        if request.path.startswith(ADMIN_PREFIX):
            response = self.admin(request)
        elif request.path.lower() == EWS_PATH.lower():  # IIS paths are case-insensitive
            response = self.ews(request, environ)
        else:
            response = Response("Not Found", status=404, mimetype="text/plain")
        return response(environ, start_response)

    # -- admin API ----------------------------------------------------------------------------------------------
    def admin(self, request: Request) -> Response:
        sb = self.sandbox
        path = request.path[len(ADMIN_PREFIX) :].rstrip("/")

        def js(data, status=200):
            return Response(json.dumps(data, default=str), status=status, mimetype="application/json")

        if path == "/faults" and request.method == "GET":
            return js(sb.faults.snapshot())
        if path == "/faults" and request.method in ("PUT", "PATCH", "POST"):
            try:
                body = json.loads(request.get_data() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                return js(sb.faults.update(body))
            except ValueError as e:
                return js({"error": str(e)}, 400)
        if path == "/reset" and request.method == "POST":
            sb.reset_log()
            sb.faults.reset()
            return js({"ok": True})
        if path == "/log" and request.method == "GET":
            return js(sb.log_snapshot())
        if path == "/notifications":  # EWS subscriptions, push deliveries and the minute knob
            try:
                body = json.loads(request.get_data() or b"{}") if request.method != "GET" else None
                if body is not None and not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                return js(sb.notifications.admin(request.method, body))
            except (ValueError, TypeError) as e:
                return js({"error": str(e)}, 400)
        if path in ("", "/info") and request.method == "GET":
            return js(sb.info(request.host_url.rstrip("/") + EWS_PATH))
        return js({"error": "not found"}, 404)

    # -- EWS -------------------------------------------------------------------------------------------------------
    def ews(self, request: Request, environ) -> Response:
        sb = self.sandbox
        if request.method != "POST":
            return Response("EWS expects SOAP over POST", status=405, headers={"Allow": "POST"})
        principal = self.authenticate(request)
        if principal is None:
            request.get_data()  # read the body, or the server takes its rest for the next request
            return self.unauthorized(environ)
        try:
            envelope = etree.fromstring(request.get_data(), parser=PARSER)
        except etree.XMLSyntaxError as e:
            return self.fault_response(
                SoapFault(
                    "ErrorSchemaValidation", f"The request is not valid XML: {e}", fault_code="a:ErrorSchemaValidation"
                )
            )
        body = envelope.find(q(SOAP, "Body"))
        header = envelope.find(q(SOAP, "Header"))
        payload = body[0] if body is not None and len(body) else None
        operation = local(payload) if payload is not None else None
        sb.count_request(operation, principal)

        fault, latency = sb.faults.draw(operation)
        if latency:
            time.sleep(latency)
        if fault == "drop":
            self.drop(environ)
        if fault == "http_503":
            return Response("Service Unavailable", status=503, mimetype="text/plain", headers={"Retry-After": "1"})
        if fault == "http_500":
            return Response(_IIS_500, status=500, mimetype="text/html")
        try:
            if fault == "server_busy":  # throttling answers before the request is looked at
                ms = sb.faults.settings.back_off_ms
                raise SoapFault(
                    "ErrorServerBusy",
                    "The server cannot service this request right now. Try again later.",
                    fault_code="a:ErrorServerBusy",
                    message_xml={"BackOffMilliseconds": str(ms)},
                )
            if payload is None or payload.tag != q(M, operation):
                raise SoapFault("ErrorInvalidRequest", "The SOAP body holds no EWS request.")
            versions.check_request_version(header)
            self.validate_request(payload, header)
            handler = OPERATIONS.get(operation)
            if handler is None:
                raise versions.unsupported_operation(operation)
            with sb.store.lock:
                ctx = Context.from_request(sb, principal, header)
                result = handler(ctx, payload)
                if ctx.wrote:
                    sb.persist()
            if not isinstance(result, etree._Element):  # GetStreamingEvents: envelopes written as they come
                result.client_gone = _peer_closed(environ)
                return self.streaming_response(result)
        except SoapFault as f:
            return self.fault_response(f)
        except Exception as e:  # a sandbox bug: answer like Exchange does, and keep the traceback visible
            if isinstance(e, EwsError):
                # A request-level error (bad view, bad sync folder, ...): one error message for the request.
                from .services import error, response

                return self.soap_response(response(operation, [error(operation, e)]))
            log.exception("internal error in %s", operation)
            sb.internal_errors.append(f"{operation}: {e!r}")
            return self.fault_response(
                SoapFault(
                    "ErrorInternalServerError",
                    f"Internal sandbox error: {e!r}",
                    fault_code="a:ErrorInternalServerError",
                )
            )
        answer = self.soap_response(result)
        if operation == "Subscribe":
            # Exchange Online pins a subscription to its mailbox server with this cookie; clients (exchangelib,
            # the EWS Managed API) send it back on GetEvents/GetStreamingEvents. One server here: a constant.
            answer.set_cookie("X-BackEndOverrideCookie", AFFINITY_COOKIE, httponly=True, secure=False)
        return answer

    def authenticate(self, request: Request) -> str | None:
        """The authenticated user name (an e-mail address), or None."""
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return self.sandbox.check_password(user, password)
        if scheme.lower() == "bearer":
            return self.sandbox.check_token(value.strip())
        return None

    def unauthorized(self, environ) -> Response:
        # werkzeug's development server adds "Connection: close" to every response, and exchangelib reads a
        # closed connection on a non-200 answer as ErrorServerBusy before it looks at the 401. IIS keeps the
        # connection open; answer like IIS by writing the response ourselves when the socket is at hand.
        sock = environ.get("werkzeug.socket")
        body = b"401 - Unauthorized: Access is denied due to invalid credentials."
        if sock is not None:
            raw = (
                b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n"
                + f"WWW-Authenticate: {WWW_AUTHENTICATE}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            try:
                sock.sendall(raw)
            except OSError:
                pass
            raise _Dropped("answered directly")
        return Response(body, status=401, mimetype="text/plain", headers={"WWW-Authenticate": WWW_AUTHENTICATE})

    @staticmethod
    def drop(environ) -> None:
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise _Dropped("fault injection: connection dropped")

    # -- validation and envelopes -------------------------------------------------------------------------------
    def validate_request(self, payload, header) -> None:
        sb = self.sandbox
        if not sb.validate_schema:
            return
        from .services.subscribe import request_xsd_view

        elements = [request_xsd_view(payload)] + ([versions.xsd_view(h) for h in header] if header is not None else [])
        for e in elements:
            errors = sb.validator.errors(e)
            if errors:
                sb.record_schema_errors(f"request {local(e)}", errors)
                raise SoapFault(
                    "ErrorSchemaValidation",
                    "The request failed schema validation: " + errors[0],
                    fault_code="a:ErrorSchemaValidation",
                    message_xml={"Violation": errors[0]},
                )

    def soap_response(self, result) -> Response:
        data = self.envelope_bytes(result)
        return Response(data, status=200, mimetype="text/xml", content_type="text/xml; charset=utf-8")

    def streaming_response(self, streamed) -> Response:
        from .services.get_streaming_events import xsd_view

        def chunks():
            for body in streamed.bodies:
                yield self.envelope_bytes(body, view=xsd_view)

        return Response(chunks(), status=200, content_type="text/xml; charset=utf-8", direct_passthrough=True)

    def envelope_bytes(self, result, view=None) -> bytes:
        """The SOAP envelope around ``result``, validated (``view`` maps it to what the XSD expects)."""
        sb = self.sandbox
        info = el(t("ServerVersionInfo"), attrs=SERVER_VERSION)
        if sb.validate_schema:
            for e in (view(result) if view else result, info):
                errors = sb.validator.errors(e)
                if errors:
                    sb.record_schema_errors(f"response {local(e)}", errors)
        envelope = etree.Element(q(SOAP, "Envelope"), nsmap={"s": SOAP})
        header = etree.SubElement(envelope, q(SOAP, "Header"))
        header.append(info)
        body = etree.SubElement(envelope, q(SOAP, "Body"))
        body.append(result)
        etree.cleanup_namespaces(envelope, top_nsmap={"m": M, "t": T})
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")

    @staticmethod
    def fault_response(f: SoapFault) -> Response:
        envelope = etree.Element(q(SOAP, "Envelope"), nsmap={"s": SOAP})
        body = etree.SubElement(envelope, q(SOAP, "Body"))
        fault = etree.SubElement(body, q(SOAP, "Fault"))
        fault_code = etree.SubElement(fault, "faultcode", nsmap={"a": E})
        fault_code.text = f.fault_code
        etree.SubElement(
            fault, "faultstring", {q("http://www.w3.org/XML/1998/namespace", "lang"): "en-US"}
        ).text = f.text
        detail = etree.SubElement(fault, "detail", nsmap={"e": E, "t": T})
        etree.SubElement(detail, q(E, "ResponseCode")).text = f.code
        etree.SubElement(detail, q(E, "Message")).text = f.text
        if f.message_xml:
            mx = etree.SubElement(detail, q(T, "MessageXml"))
            for name, value in f.message_xml.items():
                etree.SubElement(mx, q(T, "Value"), {"Name": name}).text = value
        data = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return Response(data, status=f.status, mimetype="text/xml", content_type="text/xml; charset=utf-8")


__all__ = ["EWS_PATH", "EwsApp"]
