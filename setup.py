"""Copies the rule pages (rules/*.md) into the package so `preflight rule PF102` works when installed."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithRulePages(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).parent / "rules"
        target = Path(self.build_lib) / "preflight" / "rule_pages"
        target.mkdir(parents=True, exist_ok=True)
        for page in sorted(source.glob("PF*.md")):
            shutil.copyfile(page, target / page.name)


setup(cmdclass={"build_py": BuildWithRulePages})
