"""``include:``: each entry loads as a project of its own (its directory, its ``.env`` or
``env_file``), the including project's variables winning."""

from __future__ import annotations

import os
from pathlib import Path

from ..confine import OUTSIDE
from ..yamlpos import Map, Node, Scalar, Seq
from .files import File
from .nodes import listed, present
from .state import Env, ReaderState, expand_home

MAX_INCLUDES = 32  # include nesting


class Includes(ReaderState):
    """The ``include:`` entries of a project."""

    def includes(self, f: File, node: Node, env: Env, workdir: str, chain: tuple[str, ...]) -> None:
        if not isinstance(node, Seq):
            self.at(f, node, "include must be a list")
            return
        for entry in node.items:
            env_nodes: list[Node] = []
            dir_node: Node | None = None
            if isinstance(entry, Scalar):
                path_nodes: list[Node] = [entry]
            elif isinstance(entry, Map):
                spec = self.items(f, entry)
                path_nodes = listed(spec["path"][1]) if "path" in spec and present(spec["path"][1]) else []
                if not path_nodes:  # no key, null, or an empty list
                    self.at(f, entry, 'include entry needs a "path"')
                    continue
                if "env_file" in spec and present(spec["env_file"][1]):
                    env_nodes = listed(spec["env_file"][1])
                if "project_directory" in spec and present(spec["project_directory"][1]):
                    dir_node = spec["project_directory"][1]
            else:
                self.at(f, entry, "include entry must be a path or a mapping")
                continue
            self.include(f, path_nodes, env_nodes, dir_node, env, workdir, chain)

    def include(
        self,
        f: File,
        path_nodes: list[Node],
        env_nodes: list[Node],
        dir_node: Node | None,
        env: Env,
        workdir: str,
        chain: tuple[str, ...],
    ) -> None:
        """Read one ``include`` entry's files as a project; nothing when a path is unknown, remote,
        missing, outside the project or already on the include chain."""
        paths = self.include_paths(f, path_nodes, env, workdir, chain)
        if paths is None:
            return
        project_dir = os.path.dirname(paths[0])
        if dir_node is not None:
            rel = self.text(f, dir_node, env, "include project_directory")
            if rel is None:
                return
            project_dir = os.path.normpath(os.path.join(workdir, expand_home(rel)))
            if self.outside(f, dir_node, project_dir, "include project_directory"):
                return
        env_files = self.include_env_files(f, env_nodes, env, workdir)
        if env_files is None:
            return
        default_env = os.path.join(project_dir, ".env")
        if not env_nodes and os.path.lexists(default_env) and not self.inside(default_env):
            self.at(f, path_nodes[0], f"the included project's .env file {OUTSIDE}: .env (not read)")
        elif not env_nodes and os.path.isfile(default_env):
            env_files.append(default_env)
        values: dict[str, str] = {}
        for path in env_files:
            values.update(self.dotenv(f, path, lambda k: env.get(k, values.get(k))))
        included_env = {**values, **env}
        self.envs.append(included_env)
        for path in paths:
            self.project(self.file(path), included_env, project_dir, (*chain, path))

    def include_paths(
        self, f: File, path_nodes: list[Node], env: Env, workdir: str, chain: tuple[str, ...]
    ) -> list[str] | None:
        """The files an entry includes; None (with a problem unless unknown or remote) when any of
        them cannot be read."""
        paths: list[str] = []
        for pn in path_nodes:
            rel = self.text(f, pn, env, "include path")
            if rel is None or "://" in rel or rel.startswith("git@"):
                return None  # unknown or remote: nothing to read offline
            path = os.path.normpath(os.path.join(workdir, expand_home(rel)))
            if self.outside(f, pn, path, "include path"):
                return None
            if path in chain:
                names = " -> ".join(self.display(Path(p)) for p in (*chain, path))
                self.at(f, pn, f"include cycle: {names}")
                return None
            if not os.path.isfile(path):
                self.at(f, pn, f"included file not found: {self.display(Path(path))}")
                return None
            if len(chain) > MAX_INCLUDES:
                self.at(f, pn, f"includes nested deeper than {MAX_INCLUDES} files")
                return None
            paths.append(path)
        return paths

    def include_env_files(self, f: File, env_nodes: list[Node], env: Env, workdir: str) -> list[str] | None:
        """An entry's ``env_file``s; None (with a problem unless unknown) when one cannot be read."""
        env_files: list[str] = []
        for en in env_nodes:
            rel = self.text(f, en, env, "include env_file")
            if rel is None:
                return None
            path = os.path.normpath(os.path.join(workdir, expand_home(rel)))
            if self.outside(f, en, path, "include env_file"):
                return None
            if not os.path.isfile(path):
                self.at(f, en, f"env_file not found: {self.display(Path(path))}")
                return None
            env_files.append(path)
        return env_files
