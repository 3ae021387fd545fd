"""What kind of file a name (or a YAML file's first 64 KiB) says it is: a Dockerfile, a compose file, or
neither. ``classify`` for files found in a directory, ``classify_explicit`` for files named on the command
line, ``sniff_compose`` for YAML named like nothing in particular. Shared by discovery, builds, the
pipeline and the pre-commit hook's file patterns."""

from __future__ import annotations

import re

DOCKERFILE = "dockerfile"
COMPOSE = "compose"

# Exact Dockerfile names. Docker's default is ``Dockerfile`` and it also accepts lower-case
# ``dockerfile``; Podman/Buildah default to ``Containerfile``.
_DOCKERFILE_NAMES = frozenset({"Dockerfile", "dockerfile", "Containerfile"})
_DOCKERFILE_PREFIXES = ("Dockerfile.", "Containerfile.")
_DOCKERFILE_SUFFIXES = (".Dockerfile", ".dockerfile", ".Containerfile", ".containerfile")

# ``Dockerfile.<ext>`` names that are not Dockerfiles Docker builds: docs, scripts, data,
# templates (docker-library's ``Dockerfile.template`` holds template syntax), editor and
# patch leftovers. Compared case-insensitively with the text after the last dot.
NOT_DOCKERFILE_EXTENSIONS = frozenset(
    {
        "md", "rst", "txt", "adoc",
        "sh", "bash", "ps1", "bat", "cmd", "py", "go", "rb", "js",
        "json", "yaml", "yml", "toml", "xml", "ini", "cfg", "conf", "env", "lock",
        "j2", "jinja", "jinja2", "tmpl", "tpl", "template", "erb", "in", "mustache", "hbs",
        "bak", "orig", "rej", "swp", "tmp", "old", "patch", "diff",
    }
)  # fmt: skip

# compose.yaml, compose.override.yml, docker-compose.yml, docker-compose.prod.yaml, and the
# common hyphen forms docker-compose-dev.yml, compose-dev.yaml (Compose never loads those by
# default, but projects name their variants that way and pass them with -f).
# Also the names people give compose files Compose itself never loads by default but that
# `docker compose -f` / `docker stack deploy -c` take: anything with "compose" in its name
# (gateway-docker-compose.yml), Swarm stack files (docker-stack.yml, docker-stack.prod.yaml) and
# fig.yml, Compose's original name. Other YAML is recognised by content (``sniff_compose``).
_COMPOSE_RE = re.compile(r"(?:[^/]*compose[^/]*|docker-stack(?:[.-][^/]+)?|fig)\.ya?ml\Z")
SNIFF_BYTES = 64 * 1024
# A top-level `services:` key (block style) and, below it, an indented `image:` or `build:` key.
# GitHub workflows nest `services:` under a job; Kubernetes manifests have no top-level services.
_SERVICES_RE = re.compile(r"^services[ \t]*:[ \t]*(?:#[^\n]*)?$", re.MULTILINE)
_SERVICE_KEY_RE = re.compile(r"^[ \t]+(?:image|build)[ \t]*:", re.MULTILINE)


def classify(name: str) -> str | None:
    """``"dockerfile"``, ``"compose"`` or None for a file name (not a path).

    Dockerfiles: ``Dockerfile``, ``dockerfile``, ``Containerfile``, ``Dockerfile.*`` and
    ``Containerfile.*`` (except extensions in ``NOT_DOCKERFILE_EXTENSIONS``), ``*.Dockerfile``,
    ``*.dockerfile``, ``*.Containerfile``, ``*.containerfile``; never ``*.dockerignore``.
    Compose: any ``*compose*.yaml`` (``compose.yaml``, ``docker-compose.prod.yml``,
    ``gateway-docker-compose.yml``), ``docker-stack.yaml``, ``docker-stack.*.yaml``,
    ``docker-stack-*.yaml`` and ``fig.yaml`` (each also ``.yml``). Case-sensitive as listed.
    Other YAML files can still be compose files by content: see ``sniff_compose``.
    """
    if "ocker" not in name and "ontainer" not in name and "ompose" not in name and not name.startswith("fig."):
        return None  # fast path: most files in a tree
    if name in _DOCKERFILE_NAMES:
        return DOCKERFILE
    if _COMPOSE_RE.match(name) and not name.startswith(_DOCKERFILE_PREFIXES):  # Dockerfile.compose.yml: neither
        return COMPOSE
    if name.endswith(".dockerignore"):
        return None
    for prefix in _DOCKERFILE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            ext = name.rpartition(".")[2].lower()
            return None if ext in NOT_DOCKERFILE_EXTENSIONS else DOCKERFILE
    for suffix in _DOCKERFILE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return DOCKERFILE
    return None


def sniff_compose(path: str) -> bool:
    """Whether a YAML file not named like a compose file is one by content: a top-level
    ``services:`` mapping with an ``image:`` or ``build:`` key below it, within its first 64 KiB
    (a stack file named ``stack.yml`` or ``pwd.yml``). Never reads more; unreadable means no."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    match = _SERVICES_RE.search(head)
    return match is not None and _SERVICE_KEY_RE.search(head, match.end()) is not None


def classify_explicit(name: str) -> str:
    """Kind of a file named on the command line: by name, else YAML is compose, else Dockerfile."""
    kind = classify(name)
    if kind is not None:
        return kind
    return COMPOSE if name.lower().endswith((".yaml", ".yml")) else DOCKERFILE
