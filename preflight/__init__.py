"""preflight: catch broken container image references before a build starts."""

# Kept literal (importlib.metadata costs ~14 ms at start-up); tests/test_cli.py checks it
# equals the version in pyproject.toml.
__version__ = "0.1.0"
