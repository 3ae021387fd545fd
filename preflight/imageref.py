"""Image references, parsed and normalized exactly like distribution/reference.

``ImageRef.parse(text)`` mirrors Go's ``reference.ParseNormalizedNamed``: the default registry
is ``docker.io``, one-component Hub names get ``library/``, and the first path component is a
registry only when it contains ``.`` or ``:``, is ``localhost``, or contains upper case.
Invalid input raises ``ReferenceError`` with the reason Go would give.

All patterns use ``re.ASCII`` and ``fullmatch``: Python's ``\\w`` and ``$`` differ from Go's.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TypeGuard

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
HUB_REGISTRY_HOST = "registry-1.docker.io"
# The names of Docker Hub's registry a reference's domain may carry (lower case): each means Docker Hub,
# its endpoint and its credentials. The one table: endpoints, credentials, transport and rules use it.
# parse() folds only index.docker.io into docker.io, as distribution/reference does; registry-1.docker.io
# stays as written (moby gives it Hub's endpoint and credentials, but no mirrors).
DOCKER_HUB_DOMAINS = frozenset({DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN, HUB_REGISTRY_HOST})
OFFICIAL_REPO_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255
# No valid reference is longer than about 780 characters: a host name of at most 253 (DNS), a
# port of at most 5 digits, a path of at most NAME_TOTAL_LENGTH_MAX, a tag of at most 128 and a
# sha512 digest (135), plus separators. Variable expansion that forms a reference stops here
# (rounded up, so that the grammar's own reason still names what is wrong below it).
MAX_REFERENCE_LENGTH = 1024

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?", re.ASCII)
_ANCHORED_NAME_RE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)", re.ASCII
)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}", re.ASCII)
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX_RE = re.compile(r"[a-f0-9]+", re.ASCII)


_TAG_RE = re.compile(_TAG, re.ASCII)
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_DIGEST_RE = re.compile(_DIGEST, re.ASCII)


def is_tag(text: object) -> TypeGuard[str]:
    """A tag the grammar allows: what a registry's tag list may contribute to messages and fixes."""
    return isinstance(text, str) and _TAG_RE.fullmatch(text) is not None


def is_repository_path(text: object) -> TypeGuard[str]:
    """A repository path (``library/python``; no registry host) the grammar allows."""
    return isinstance(text, str) and len(text) <= NAME_TOTAL_LENGTH_MAX and _PATH_RE.fullmatch(text) is not None


def is_digest(text: object) -> TypeGuard[str]:
    """A digest preflight accepts in a reference (``sha256:`` + 64 lower-case hex, sha384, sha512)."""
    if not isinstance(text, str) or _DIGEST_RE.fullmatch(text) is None:
        return False
    try:
        _validate_digest(text)
    except ReferenceError:
        return False
    return True


class ReferenceError(ValueError):
    """The text is not a valid image reference; ``str(err)`` says why."""


@dataclass(frozen=True, order=True)
class ImageRef:
    """A normalized image reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    # ----------------------------------------------------------------- parsing
    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse and normalize like ``reference.ParseNormalizedNamed``."""
        if not text:
            raise ReferenceError("reference is empty")
        if _IDENTIFIER_RE.fullmatch(text):
            raise ReferenceError(
                "a 64-character hexadecimal string is an image ID, not a reference; "
                "use repository@sha256:<id> to pin by digest"
            )
        domain, remainder = _split_docker_domain(text)
        name_part = remainder.split(":", 1)[0].split("@", 1)[0]
        if name_part.lower() != name_part:
            raise ReferenceError("repository name must be lowercase")
        full = f"{domain}/{remainder}" if domain else remainder
        return cls._parse_full(full, text)

    @classmethod
    def _parse_full(cls, full: str, original: str) -> ImageRef:
        match = _REFERENCE_RE.fullmatch(full)
        if match is None:
            raise ReferenceError(_explain_format(original))
        name = match.group("name")
        name_match = _ANCHORED_NAME_RE.fullmatch(name)
        if name_match is None:  # pragma: no cover - the reference pattern implies a name match
            raise ReferenceError(_explain_format(original))
        domain = name_match.group("domain") or ""
        path = name_match.group("path")
        if not domain:
            # Go quirk: a first component without host characters after splitDockerDomain
            # (e.g. "my_registry.com/foo") matches as a path with an empty domain.
            raise ReferenceError(
                f"{name.split('/')[0]!r} is not a valid registry host name (registry names may not contain '_')"
            )
        if len(path) > NAME_TOTAL_LENGTH_MAX:
            raise ReferenceError(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
        digest = match.group("digest")
        if digest is not None:
            _validate_digest(digest)
        return cls(domain=domain, path=path, tag=match.group("tag"), digest=digest)

    # ------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        """Repository name with domain: ``docker.io/library/python``."""
        return f"{self.domain}/{self.path}"

    @property
    def effective_tag(self) -> str | None:
        """The tag Docker pulls: the written tag, ``latest`` when neither tag nor digest is given."""
        if self.tag is None and self.digest is None:
            return "latest"
        return self.tag

    @property
    def canonical(self) -> str:
        """Fully qualified text: ``docker.io/library/python:3.12-slim``; ``:latest`` when implied."""
        out = self.name
        tag = self.effective_tag
        if tag is not None:
            out += f":{tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    @property
    def familiar_name(self) -> str:
        """Repository name as people write it: ``python``, ``myorg/app``, ``ghcr.io/o/r``.

        Unlike Go's ``FamiliarName``, a Hub path whose first component reads as a registry
        (``docker.io/r.io/app``) keeps ``docker.io/``: ``r.io/app`` names another registry.
        """
        if self.domain == DEFAULT_DOMAIN:
            short = self.path[len(OFFICIAL_REPO_PREFIX) :]
            if self.path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in short and not _IDENTIFIER_RE.fullmatch(short):
                return short  # (a 64-hex name alone would read as an image ID)
            first = self.path.split("/", 1)[0]
            if "." not in first and ":" not in first and first != "localhost":
                return self.path
        return self.name

    @property
    def familiar(self) -> str:
        out = self.familiar_name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    @property
    def is_docker_hub(self) -> bool:
        return self.domain == DEFAULT_DOMAIN

    def with_tag(self, tag: str | None) -> ImageRef:
        return ImageRef(self.domain, self.path, tag, self.digest)

    def __str__(self) -> str:
        return self.canonical


def _split_docker_domain(text: str) -> tuple[str, str]:
    """``splitDockerDomain``: separate the registry from the remainder and apply Hub defaults."""
    i = text.find("/")
    if i == -1 or (
        "." not in text[:i] and ":" not in text[:i] and text[:i] != "localhost" and text[:i].lower() == text[:i]
    ):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = text[:i], text[i + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


HOST_PROBLEM_PREFIX = "registry host"
_NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*", re.ASCII)


def host_problem(domain: str) -> str | None:
    """Why a registry host that the reference grammar accepts cannot be connected to; None if it can.

    distribution/reference accepts any dotted run of letters, digits and hyphens with any port, so
    ``0251.0376.0251.0376:80`` is a valid reference. As a host it is ambiguous: URL parsers refuse
    it, and resolvers that accept it read leading zeros as octal (169.254.169.254). A host whose last
    label is a number (the WHATWG URL rule) must be a dotted-decimal IPv4 address; a port must be
    1-65535; a bracketed IPv6 literal must be one; DNS labels are at most 63 characters (253 in all),
    and an ``xn--`` label must be valid punycode. Pure: no network.
    """
    host, _, port = domain.rpartition(":") if domain.rfind(":") > domain.rfind("]") else (domain, "", "")
    shown = _clipped(host)
    if port and not 1 <= int(port) <= 65535:
        return f'{HOST_PROBLEM_PREFIX} "{_clipped(domain)}" has port {int(port)}, outside 1-65535'
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f'{HOST_PROBLEM_PREFIX} "{shown}" is not a valid IPv6 address'
        return None
    labels = host.split(".")
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            legacy = _inet_aton(host)
            read_as = f" (some resolvers read it as {legacy})" if legacy else ""
            return (
                f'{HOST_PROBLEM_PREFIX} "{shown}" ends in a number but is not a dotted-decimal IPv4 address '
                f"(four numbers 0-255, no leading zeros){read_as}; write the address that way or use a host name"
            )
        return None
    if len(host) > 253 or any(len(label) > 63 for label in labels):
        return f'{HOST_PROBLEM_PREFIX} "{shown}" is longer than DNS allows (63 characters per label, 253 in all)'
    for label in labels:
        if label[:4].lower() == "xn--":
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                return f'{HOST_PROBLEM_PREFIX} "{shown}" has an invalid internationalized label "{label[:63]}"'
    return None


def _inet_aton(text: str) -> str | None:
    """The address C's ``inet_aton`` (and so ``getaddrinfo``) reads in ``text``: 1-4 parts, each
    decimal, octal (leading 0) or hex (0x), the last filling the remaining bytes; None if none."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                values.append(int(part[2:], 16))
            else:
                values.append(int(part, 8) if len(part) > 1 and part[0] == "0" else int(part, 10))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = sum(v << (8 * (3 - i)) for i, v in enumerate(head)) + last
    return str(ipaddress.IPv4Address(number))


def _clipped(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _validate_digest(digest: str) -> None:
    algorithm, _, hex_part = digest.partition(":")
    expected = _DIGEST_HEX_LENGTHS.get(algorithm)
    if expected is None:
        raise ReferenceError(f"unsupported digest algorithm {algorithm!r} (use sha256)")
    if not _LOWER_HEX_RE.fullmatch(hex_part):
        raise ReferenceError("digest must be lowercase hexadecimal")
    if len(hex_part) != expected:
        raise ReferenceError(f"{algorithm} digest must have {expected} hex characters, not {len(hex_part)}")


def _explain_format(text: str) -> str:
    """A specific reason for an invalid reference, where one is easy to name."""
    if text != text.strip():
        return "reference contains leading or trailing whitespace"
    if any(ch.isspace() for ch in text):
        return "reference contains whitespace"
    if not text.isascii():
        return "reference contains non-ASCII characters"
    head, _, digest = text.partition("@")
    last = head.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.split(":", 1)[1]
        if tag == "":
            return "tag is empty (remove the ':' or add a tag)"
        if len(tag) > 128:
            return "tag is longer than 128 characters"
        if tag[0] in ".-":
            return f"tag {tag!r} must not start with '.' or '-'"
        if not re.fullmatch(_TAG, tag, re.ASCII):
            return f"tag {tag!r} may contain only letters, digits, '_', '.' and '-'"
    if "@" in text and not digest:
        return "digest is empty"
    if "//" in head or head.endswith("/") or head.startswith("/"):
        return "repository name has an empty path component"
    return "invalid reference format"
