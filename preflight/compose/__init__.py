"""Compose files: image uses with positions, interpolation, ``.env``, ``extends``, ``include``, builds.

``load_compose`` reads one compose file the way ``docker compose`` would load it as a project and
returns one Document per file it read: the file itself first, then the files reached through
``include:`` and ``extends: {file: ...}``. Every value is reported where it is written (an alias or
a ``<<`` merge reports at its anchor; an extended service's image in the file that declares it).
Bad input never raises: it becomes a PF001 problem and reading goes on.

What compose-go does and this module follows:
* interpolation of ``$V ${V} ${V:-d} ${V-d} ${V:?e} ${V?e} ${V:+a} ${V+a}`` and ``$$`` with the
  process environment over the project's ``.env``;
* ``include`` entries load as projects of their own: paths relative to the including project's
  directory, their own ``.env`` (or ``env_file``), the including project's variables win;
* ``extends`` (same file or ``file:``) merges the base under the service; relative paths of an
  extended file resolve against that file's directory; cycles are reported, not followed;
* ``image:`` beside ``build:`` names the image that is built: syntax check only (``pull=False``),
  also when the ``build:`` comes from ``compose.override.yaml`` or its base file;
* legacy (v1) files whose services sit at the top level.

Modules: ``nodes`` (YAML as compose reads it: merge keys, ``!reset``, where services are), ``files``
(a file as read and what it contributes), ``state`` (the reader's state and shared helpers), ``buildlinks``
(``build:`` into build links), ``includes`` (``include:``) and ``reader`` (the driver: services,
``extends``, image uses, the override partner).
"""

from .reader import DEFAULT_FILES, OVERRIDE_FILES, load_compose

__all__ = ["DEFAULT_FILES", "OVERRIDE_FILES", "load_compose"]
