"""What a registry's ``WWW-Authenticate`` header asks for: its challenges (RFC 7235: several per header,
quoted strings, token68 skipped), the one preflight answers (Bearer over Basic), and the scopes a Bearer
challenge names. Pure: ``auth`` runs the flow, ``doctor`` shows it step by step."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic", ...
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def error(self) -> str:
        return self.params.get("error", "")


def parse_challenges(values: list[str] | str) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values (RFC 7235) into challenges, in order."""
    if isinstance(values, str):
        values = [values]
    out: list[Challenge] = []
    for value in values:
        out.extend(_parse_one(value))
    return out


def _parse_one(text: str) -> list[Challenge]:
    out: list[Challenge] = []
    current: Challenge | None = None
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        start = i
        while i < n and text[i] not in " \t,=":
            i += 1
        token = text[start:i]
        if not token:
            i += 1
            continue
        j = i
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == "=" and current is not None and not text.startswith("==", j):
            i = j + 1
            while i < n and text[i] in " \t":
                i += 1
            value, i = _read_value(text, i)
            current.params[token.lower()] = value
        elif j < n and text[j] == "=":  # token68 (e.g. "Negotiate abc==") or a param before a scheme
            while i < n and text[i] not in ",":
                i += 1
        else:
            current = Challenge(token.lower(), {})
            out.append(current)
            i = j
    return out


def _read_value(text: str, i: int) -> tuple[str, int]:
    n = len(text)
    if i < n and text[i] == '"':
        i += 1
        buf: list[str] = []
        while i < n and text[i] != '"':
            if text[i] == "\\" and i + 1 < n:
                i += 1
            buf.append(text[i])
            i += 1
        return "".join(buf), i + 1
    start = i
    while i < n and text[i] not in ", \t":
        i += 1
    return text[start:i], i


def choose(challenges: list[Challenge]) -> Challenge | None:
    """Bearer is preferred over Basic; other schemes are unsupported."""
    for scheme in ("bearer", "basic"):
        for ch in challenges:
            if ch.scheme == scheme:
                return ch
    return None


def split_scope(scope: str) -> tuple[str, str, str] | None:
    """``repository:host:5000/a:pull`` → (type, name, actions): type at the first ``:``, actions at the last."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    return kind, name, actions
