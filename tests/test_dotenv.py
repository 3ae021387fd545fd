""".env parsing as compose-go does it (preflight.dotenv); where the values win is in test_compose."""

from __future__ import annotations

from preflight.dotenv import parse_dotenv


def test_dotenv_parser_details():
    text = 'A="line1\\nline2 \\"q\\" \\$HOME"\nB=\'it\\\'s\'\nC = spaced value   \nD=$A\nE=${MISSING}x\nF="multi\nline"\nG=\n'
    values, error = parse_dotenv(text, {"HOME": "/root"}.get)
    assert error is None
    assert values == {
        "A": 'line1\nline2 "q" $HOME',
        "B": "it's",
        "C": "spaced value",
        "D": 'line1\nline2 "q" $HOME',
        "E": "x",  # compose: an unset variable in .env is empty
        "F": "multi\nline",
        "G": "",
    }
