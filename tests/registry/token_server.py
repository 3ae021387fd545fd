"""A Docker-Hub-style token issuer for Distribution's ``auth.token`` (docs/test-registry.md section 8).

ES256 on P-256, standard-base64 ``x5c`` (or ``kid`` = libtrust key ID), string ``iss``/``aud``,
integer ``exp``/``nbf``, ``access`` claim. Policy: anonymous pull on ``library/*`` and ``myorg/app``,
alice/s3cret everything, anything else an empty grant (token issued, no access).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from .httpthread import BackgroundHTTPServer, LoopbackAddress, QuietHandler

SERVICE = "preflight-test-registry"
ISSUER = "preflight-test-issuer"
ANONYMOUS_PULL = ("library/", "myorg/app")
"""Repository prefixes (``library/``) or exact names anonymous users may pull."""


class TokenRequest(NamedTuple):
    user: str | None
    service: str | None
    scopes: tuple[str, ...]
    method: str = "GET"


def libtrust_key_id(public_key: PublicKeyTypes) -> str:
    """base32 of the first 30 bytes of sha256(DER SubjectPublicKeyInfo), 12 groups of 4 joined by ':'."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, 48, 4))


def parse_scopes(values: list[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Repeated and space-separated scopes; split at the first and last ':' (names may hold host:port)."""
    parsed = []
    for value in values:
        for scope in value.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name:
                parsed.append((kind, name, tuple(a for a in actions.split(",") if a)))
    return parsed


def anonymous_may_pull(name: str) -> bool:
    return any(name.startswith(p) if p.endswith("/") else name == p for p in ANONYMOUS_PULL)


class TokenServer(LoopbackAddress):
    """Token endpoint at ``realm`` (``http://127.0.0.1:PORT/token``), served from a daemon thread.

    Knobs (plain attributes, flip them while it runs):
    ``down`` -> 503; ``fail_auth`` -> 401 for every request; ``garbage`` -> 200 with a token that is
    not a JWT; ``lifetime`` -> seconds until the JWT's ``exp`` (negative: already expired);
    ``expires_in`` -> the number reported in the reply; ``key_header`` -> "x5c" or "kid";
    ``allow_post`` -> False answers POST (OAuth2 refresh-token flow) with 404.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.service = SERVICE
        self.issuer = ISSUER
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._set_knobs()
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.certificate_path = workdir / "token-signing.crt"
        self._cert_der = self._write_certificate()
        self.key_id = libtrust_key_id(self._key.public_key())
        self._server = BackgroundHTTPServer(_make_handler(self), "token-server")
        self.port = self._server.port

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def start(self) -> TokenServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Clear recorded requests and restore every knob, user and refresh token."""
        with self._lock:
            self.requests.clear()
        self._set_knobs()

    def _set_knobs(self) -> None:
        self.users: dict[str, str] = {"alice": "s3cret"}
        self.refresh_tokens: dict[str, str] = {"alice-refresh-token": "alice"}
        self.down = False
        self.fail_auth = False
        self.garbage = False
        self.lifetime: int | None = None
        self.expires_in = 300
        self.key_header = "x5c"
        self.allow_post = True

    def record(self, entry: TokenRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def _write_certificate(self) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "preflight test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.certificate_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert.public_bytes(serialization.Encoding.DER)

    def grant(self, user: str | None, scopes: list[tuple[str, str, tuple[str, ...]]]) -> list[dict[str, Any]]:
        access = []
        for kind, name, actions in scopes:
            if user is not None:
                allowed = actions
            elif kind == "repository" and anonymous_may_pull(name):
                allowed = tuple(a for a in actions if a == "pull")
            else:
                allowed = ()
            access.append({"type": kind, "name": name, "actions": list(allowed)})
        return access

    def issue(self, user: str | None, scopes: list[tuple[str, str, tuple[str, ...]]]) -> dict[str, Any]:
        now = int(time.time())
        lifetime = self.lifetime if self.lifetime is not None else self.expires_in
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
            "access": self.grant(user, scopes),
        }
        header: dict[str, Any] = {"typ": "JWT"}
        if self.key_header == "kid":
            header["kid"] = self.key_id
        else:
            header["x5c"] = [base64.b64encode(self._cert_der).decode()]
        token = "not-a-jwt" if self.garbage else jwt.encode(claims, self._key, algorithm="ES256", headers=header)
        issued = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "access_token": token, "expires_in": self.expires_in, "issued_at": issued}


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(scope for value in values for scope in value.split())


def _basic_user(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return ("", "")
    return user, password


def _make_handler(server: TokenServer) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _reply(self, status: int, body: dict[str, Any]) -> None:
            self.send(status, json.dumps(body).encode(), [("Content-Type", "application/json")])

        def _error(self, status: int, code: str, message: str) -> None:
            self._reply(status, {"errors": [{"code": code, "message": message, "detail": None}]})

        def _answer(self, user: str | None, scopes: list[tuple[str, str, tuple[str, ...]]]) -> None:
            if server.fail_auth:
                self._error(401, "UNAUTHORIZED", "authentication failed")
            else:
                self._reply(200, server.issue(user, scopes))

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path != "/token":
                self._error(404, "NOT_FOUND", "no such endpoint")
                return
            credentials = _basic_user(self.headers.get("Authorization"))
            user = credentials[0] if credentials else None
            server.record(TokenRequest(user, query.get("service", [None])[0], _split(query.get("scope", []))))
            if server.down:
                self._error(503, "UNAVAILABLE", "token service down")
                return
            if credentials is not None and server.users.get(credentials[0]) != credentials[1]:
                self._error(401, "UNAUTHORIZED", "incorrect username or password")
                return
            self._answer(user, parse_scopes(query.get("scope", [])))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if urlsplit(self.path).path != "/token" or not server.allow_post:
                self._error(404, "NOT_FOUND", "no such endpoint")
                return
            grant = form.get("grant_type", [""])[0]
            if grant == "refresh_token":
                user = server.refresh_tokens.get(form.get("refresh_token", [""])[0])
                valid = user is not None
            elif grant == "password":
                user = form.get("username", [""])[0]
                valid = server.users.get(user) == form.get("password", [None])[0]
            else:
                user, valid = None, False
            server.record(TokenRequest(user, form.get("service", [None])[0], _split(form.get("scope", [])), "POST"))
            if server.down:
                self._error(503, "UNAVAILABLE", "token service down")
                return
            if not valid:
                self._error(401, "UNAUTHORIZED", "invalid grant")
                return
            self._answer(user, parse_scopes(form.get("scope", [])))

    return Handler
