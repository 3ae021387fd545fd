"""BuildKit's word grammar inside one instruction: flags, shell words, heredoc names, ARG words,
``--mount`` CSV fields. Each splitter returns where every piece starts, so the reader can point at it."""

from __future__ import annotations

from dataclasses import dataclass

# Go's unicode.IsSpace (strings.TrimSpace, bytes.TrimLeftFunc) and the parser's [\t\v\f\r ].
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True, slots=True)
class Flag:
    """A ``--name=value`` word before the arguments, quotes and backslashes processed."""

    text: str  # "--from=build"
    offsets: tuple[int, ...]  # offset in Instruction.text of each character of ``text``


def extract_flags(s: str, i: int, n: int) -> tuple[list[Flag], int]:
    """BuildKit's extractBuilderFlags: leading ``--words``, quotes and ``\\`` processed."""
    flags: list[Flag] = []
    while True:
        while i < n and s[i] in GO_SPACE:
            i += 1
        if i >= n:
            return flags, n
        if not (s[i] == "-" and i + 1 < n and s[i + 1] == "-"):
            return flags, i
        chars: list[str] = []
        offsets: list[int] = []
        quote = ""
        blank_ok = False
        while i < n:
            ch = s[i]
            if not quote and ch in GO_SPACE:
                break
            if not quote and ch in "'\"":
                quote, blank_ok = ch, True
                i += 1
                continue
            if quote and ch == quote:
                quote = ""
                i += 1
                continue
            if ch == "\\":
                if i + 1 == n:
                    quote = ""
                    i += 1
                    continue
                i += 1
                ch = s[i]
            chars.append(ch)
            offsets.append(i)
            i += 1
        word = "".join(chars)
        if word == "--":
            return flags, i
        if blank_ok or word:
            flags.append(Flag(word, tuple(offsets)))


def shell_words(s: str) -> list[str] | None:
    """Split like BuildKit's shell lexer with raw quotes and escapes (words are substrings).

    None when the lexer fails (unterminated quote or ``${``): BuildKit then finds no heredoc.
    """
    words: list[str] = []
    i, n = 0, len(s)
    while i < n:
        if s[i] in GO_SPACE:
            i += 1
            continue
        start = i
        while i < n and s[i] not in GO_SPACE:
            i = _token_end(s, i)
            if i < 0:
                return None
        words.append(s[start:i])
    return words


def _token_end(s: str, i: int) -> int:
    """End of the quoted string, escape pair, ``${...}`` or character at ``s[i]``; -1 if unterminated."""
    n = len(s)
    ch = s[i]
    if ch == "'":
        close = s.find("'", i + 1)
        return -1 if close < 0 else close + 1
    if ch == '"':
        j = i + 1
        while j < n and s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        return -1 if j >= n else j + 1
    if ch == "\\":
        return min(i + 2, n)
    if s.startswith("${", i):
        close = s.find("}", i)
        return -1 if close < 0 or s[i + 2] in "{}:" else close + 1
    return i + 1


def heredoc_name(rest: str) -> str | None:
    """The delimiter word with quotes removed; None unless ``rest`` is exactly one word."""
    words = shell_words(rest)
    if words is None or len(words) != 1:
        return None
    out: list[str] = []
    word, i, quote = words[0], 0, ""
    while i < len(word):
        ch = word[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(word):
                i += 1
                out.append(word[i])
            else:
                out.append(ch)
        elif ch in "'\"":
            quote = ch
        elif ch == "\\" and i + 1 < len(word):
            i += 1
            out.append(word[i])
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def parse_words(s: str, i: int, n: int, esc: str) -> list[tuple[str, int]]:
    """BuildKit's parseWords (ARG): whitespace-separated words, quotes and escapes kept."""
    words: list[tuple[str, int]] = []
    while i < n:
        while i < n and s[i] in GO_SPACE:
            i += 1
        if i >= n:
            break
        start = i
        chars: list[str] = []
        quote = ""
        while i < n:
            ch = s[i]
            if not quote and ch in GO_SPACE:
                break
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            if ch == esc and quote != "'":
                if i + 1 == n:
                    i += 1
                    quote = ""
                    continue
                chars.append(ch)
                i += 1
                ch = s[i]
            chars.append(ch)
            i += 1
        words.append(("".join(chars), start))
    return words


def csv_fields(value: str) -> list[tuple[str, list[int]]]:
    """Split a --mount value like encoding/csv: fields, and each character's index in ``value``."""
    fields: list[tuple[str, list[int]]] = []
    i, n = 0, len(value)
    while True:
        chars: list[str] = []
        offsets: list[int] = []
        if i < n and value[i] == '"':
            i += 1
            while i < n:
                if value[i] == '"':
                    if i + 1 < n and value[i + 1] == '"':
                        chars.append('"')
                        offsets.append(i)
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(value[i])
                offsets.append(i)
                i += 1
            while i < n and value[i] != ",":
                chars.append(value[i])
                offsets.append(i)
                i += 1
        else:
            while i < n and value[i] != ",":
                chars.append(value[i])
                offsets.append(i)
                i += 1
        fields.append(("".join(chars), offsets))
        if i >= n:
            return fields
        i += 1  # the comma
