"""Dockerfile reader: BuildKit's line grammar, the images a file names, ARG resolution.

Modules, bottom up: ``words`` (flags, shell words, heredoc names, ARG words, ``--mount`` fields),
``scanner`` (lines, continuation, comments, parser directives, heredocs: ``scan``), ``variables``
(values, predefined platform args, expansion), ``state`` (the reader's scopes, stages and helpers),
``uses`` (the instructions that name images: where a new kind of use goes) and ``reader`` (the
driver, ARG scoping, suppressions: ``parse_dockerfile``, ``looks_like_dockerfile``).

The reader follows BuildKit's parser (moby/buildkit frontend/dockerfile/parser) line for line:
parser directives at the very top (``# syntax=``, ``# escape=``, ``# check=``), ``#`` comment
lines (dropped, also inside a continued instruction), continuation with the escape character,
empty continuation lines, and heredocs (``<<EOF``, ``<<-EOF``, quoted delimiters, several on one
line) whose bodies are never instructions. It is written here instead of using dockerfile-parse,
which turns heredoc bodies into instructions and keeps no columns.

Images: every ``FROM``, ``COPY --from=<image>``, ``RUN --mount=...,from=<image>`` and the
``# syntax=`` directive. Stage names, stage indexes (``COPY --from=0``) and ``scratch`` are not
images. ``FROM`` sees only stages defined earlier; ``--from`` and ``from=`` see every stage of
the file, as in BuildKit.

Variables, as BuildKit resolves them:
* ``FROM`` (image and ``--platform``) sees the global ARGs (before the first FROM) and the
  predefined platform args BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT, TARGETPLATFORM,
  TARGETOS, TARGETARCH, TARGETVARIANT. Those are linux/amd64 unless ``target_platform`` is given
  (it sets the TARGET* values; the BUILD* values stay linux/amd64).
* ``build_args`` override the default of a *declared* ARG only; an undeclared build arg is not
  visible (BuildKit warns "UndefinedArgInFrom").
* A variable without a value gives ``resolved=None`` plus the names of the variables that have
  no value (an ARG whose default needs a missing variable reports that variable). Never a guess.
* BuildKit refuses variables in ``COPY --from`` and ``RUN --mount from=`` (docker build fails):
  that is a PF001 problem; the use is still resolved with the stage's ARGs (podman/buildah
  expand them). ENV values are not tracked.
* ``${V#p}``, ``${V%p}``, ``${V/p/r}`` (valid in BuildKit, not supported by
  ``preflight.interpolate``) leave the value unknown (``resolved=None``) without a problem.

Problems: PF001 for what BuildKit rejects and that affects image references (FROM without an
image or with a bad stage name, unknown FROM flag, unknown instructions, instructions before the
first FROM, a file with instructions but no FROM, unterminated heredoc, bad or repeated parser
directives, variables in ``--from``, invalid stage index). PF002 for malformed variable syntax. An empty
file or one with only comments yields no uses and no problem.
"""

from .reader import NOT_A_DOCKERFILE, looks_like_dockerfile, parse_dockerfile
from .scanner import INSTRUCTIONS, Directive, Instruction, Scan, scan
from .words import Flag

__all__ = [
    "INSTRUCTIONS",
    "NOT_A_DOCKERFILE",
    "Directive",
    "Flag",
    "Instruction",
    "Scan",
    "looks_like_dockerfile",
    "parse_dockerfile",
    "scan",
]
