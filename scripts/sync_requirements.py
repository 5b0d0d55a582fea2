"""Write requirements.txt and requirements-dev.txt from pyproject.toml, the one place pins are written.

- ``requirements.txt``: ``[project] dependencies`` (inference) + the ``app`` extra: what the Hugging Face
  Space installs (it reads this file, not pyproject.toml).
- ``requirements-dev.txt``: ``-r requirements.txt`` + the ``train`` and ``dev`` extras: what CI
  (``scripts/test.sh``) installs. The ``dev`` extra's reference to the package itself
  (``digit-detector[app,train]``) is what the ``-r`` line and the ``train`` section stand for.

Usage: ``python scripts/sync_requirements.py`` rewrites both files; ``--check`` only compares and exits
with 1 when a file differs (``tests/test_packaging.py`` runs the same comparison).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "digit-detector"
GENERATED = (
    "# Generated from pyproject.toml by scripts/sync_requirements.py: edit the pins there and run\n"
    "# `python scripts/sync_requirements.py` (tests/test_packaging.py fails while the two disagree).\n"
)


@dataclass(frozen=True)
class RequirementsFile:
    name: str
    intro: str  # the comment line saying what the file is for
    sections: tuple[str, ...]  # "dependencies" ([project] dependencies) or an extra's name
    include: str | None = None  # a requirements file this one builds on (`-r`)


FILES = (
    RequirementsFile(
        "requirements.txt",
        "# What the app and inference need. Hugging Face Spaces installs exactly this file.",
        ("dependencies", "app"),
    ),
    RequirementsFile(
        "requirements-dev.txt",
        "# Training, data generation, evaluation, tests and linting (on top of the app requirements).",
        ("train", "dev"),
        include="requirements.txt",
    ),
)


def _self_extras(requirement: str) -> tuple[str, ...] | None:
    """The extras of a requirement on this package itself (``digit-detector[app,train]``), else None."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?\s*", requirement)
    if match is None or re.sub(r"[-_.]+", "-", match[1]).lower() != PACKAGE:
        return None
    return tuple(extra.strip() for extra in (match[2] or "").split(",") if extra.strip())


def section(project: dict[str, Any], name: str) -> list[str]:
    """The requirements of one section, without references to the package itself."""
    listed = project["dependencies"] if name == "dependencies" else project["optional-dependencies"][name]
    return [str(requirement) for requirement in listed if _self_extras(str(requirement)) is None]


def render(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """File name -> the text it should have, from ``pyproject``."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})
    covered: dict[str, set[str]] = {}  # file -> the sections it installs, those of its `-r` file included
    for file in FILES:
        covered[file.name] = set(file.sections) | (covered[file.include] if file.include else set())
    unplaced = set(extras) - {name for file in FILES for name in file.sections}
    if unplaced:
        raise ValueError(f"extras in no requirements file: {sorted(unplaced)}")
    for file in FILES:  # `digit-detector[a,b]` in an extra: its file must install a and b too
        for extra in set(file.sections) & set(extras):
            for requirement in extras[extra]:
                missing = set(_self_extras(str(requirement)) or ()) - covered[file.name]
                if missing:
                    raise ValueError(f"{file.name} holds the {extra} extra but not {sorted(missing)}")
    texts = {}
    for file in FILES:
        lines = [GENERATED + file.intro]
        if file.include is not None:
            lines.append(f"-r {file.include}")
        for name in file.sections:
            lines.append("# [project] dependencies" if name == "dependencies" else f"# [{name}] extra")
            lines.extend(section(project, name))
        texts[file.name] = "\n".join(lines) + "\n"
    return texts


def stale(root: Path = ROOT) -> list[str]:
    """The requirements files under ``root`` that differ from what pyproject.toml says."""
    return [
        name
        for name, text in render(root / "pyproject.toml").items()
        if not (root / name).is_file() or (root / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a file differs")
    args = parser.parse_args(argv)
    differing = stale()
    if args.check:
        for name in differing:
            print(f"{name} differs from pyproject.toml: run python scripts/sync_requirements.py")
        return 1 if differing else 0
    for name, text in render().items():
        if name in differing:
            (ROOT / name).write_text(text)
            print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
