"""A clone made with git-lfs installed is clean: the repository applies no LFS filter to the files it stores
as plain blobs (the weights, the docs' PNGs). The Hugging Face Space, which takes binaries only through LFS,
gets its LFS rules from the deploy workflow, whose LFS step is run here on a clone (everything but the push).

git-lfs is never installed or enabled system-wide: the tests find a ``git-lfs`` binary (``$GIT_LFS_BIN``, else
one on ``PATH``, else ``.cache/git-lfs/usr/bin/git-lfs`` as ``scripts/test.sh`` leaves it, else Debian's
package fetched with ``apt-get download git-lfs`` and unpacked with ``dpkg-deb -x`` into a temporary folder),
put its folder first on ``PATH`` for their own subprocesses only, with ``HOME`` and ``GIT_CONFIG_GLOBAL`` in a
temporary folder (``git lfs install`` writes its filter config there) and the system git config ignored.
They skip, saying why, only when no binary can be had that way. The clone is of the committed ``HEAD``
(``file://``, so that it goes through the transport and the checkout's smudge filter like any clone).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHED = ROOT / ".cache" / "git-lfs" / "usr" / "bin" / "git-lfs"
DEPLOY = ROOT / ".github" / "workflows" / "deploy-space.yml"
LFS_STEP = "Write the Space's Git LFS rules"
BINARY_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".png", ".jpg")
POINTER_PREFIX = b"version https://git-lfs"

pytestmark = pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not run from a git checkout")


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, f"git {' '.join(args)}\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


def unpack_debian_git_lfs(folder: Path) -> tuple[Path | None, str]:
    """``apt-get download git-lfs`` + ``dpkg-deb -x`` into ``folder``: (the binary, or None, and why not)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return None, "no apt-get/dpkg-deb to fetch Debian's git-lfs package"
    folder.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(
        ["apt-get", "download", "git-lfs"], cwd=folder, capture_output=True, text=True, timeout=300
    )
    debs = sorted(folder.glob("git-lfs_*.deb"))
    if download.returncode != 0 or not debs:
        return None, f"apt-get download git-lfs failed: {download.stderr.strip()[-300:]}"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(folder / "root")], check=True, timeout=300)
    binary = folder / "root" / "usr" / "bin" / "git-lfs"
    return (binary, "") if binary.is_file() else (None, f"{debs[-1].name} holds no usr/bin/git-lfs")


@pytest.fixture(scope="module")
def lfs_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose git has git-lfs installed (``git lfs install``) in a temporary HOME."""
    tmp = tmp_path_factory.mktemp("lfs")
    named = os.environ.get("GIT_LFS_BIN")
    found = shutil.which("git-lfs")
    binary = Path(named) if named else Path(found) if found else CACHED if CACHED.is_file() else None
    if binary is None:
        binary, why = unpack_debian_git_lfs(tmp / "deb")
        if binary is None:
            pytest.skip(f"no git-lfs binary: none on PATH or in {CACHED}, and {why}")
    home = tmp / "home"
    home.mkdir()
    keep = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env = {
        **keep,
        "PATH": f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    git(
        "config", "--global", "--add", "safe.directory", "*", cwd=tmp, env=env
    )  # a checkout owned by another user
    git("lfs", "install", cwd=tmp, env=env)
    assert "git-lfs filter-process" in git("config", "--global", "filter.lfs.process", cwd=tmp, env=env)
    return env


@pytest.fixture(scope="module")
def clone(lfs_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("clone") / "repo"
    git("clone", "-q", "--depth", "1", f"file://{ROOT}", str(target), cwd=target.parent, env=lfs_env)
    return target


def binary_files(repo: Path) -> list[str]:
    return [name for name in git("ls-files", "-z", cwd=repo).split("\0") if name.endswith(BINARY_SUFFIXES)]


def test_the_repository_applies_no_lfs_filter() -> None:
    """No git-lfs needed: the attributes of every binary file this repository stores say no LFS."""
    names = binary_files(ROOT)
    assert any(name.startswith("weights/") for name in names)
    attributes = git("check-attr", "filter", "--", *names, cwd=ROOT).splitlines()
    assert all(line.endswith(": filter: unspecified") for line in attributes), attributes


@pytest.mark.integration
def test_a_clone_with_git_lfs_installed_is_clean(clone: Path, lfs_env: dict[str, str]) -> None:
    assert git("status", "--porcelain", cwd=clone, env=lfs_env) == ""
    # deterministic too: pass every file through the clean filters again, nothing changes
    git("add", "--renormalize", ".", cwd=clone, env=lfs_env)
    assert git("status", "--porcelain", cwd=clone, env=lfs_env) == ""
    assert git("lfs", "ls-files", cwd=clone, env=lfs_env) == ""  # nothing is stored as an LFS pointer
    head = git("rev-parse", "HEAD", cwd=ROOT).strip()
    assert git("rev-parse", "HEAD", cwd=clone).strip() == head
    names = binary_files(clone)
    weights = [name for name in names if name.startswith("weights/") and name.endswith(".safetensors")]
    assert "weights/yolov3-tiny.safetensors" in weights
    for name in names:  # the checked-out files are the committed blobs, byte for byte
        blob = subprocess.run(["git", "cat-file", "blob", f"{head}:{name}"], cwd=ROOT, capture_output=True)
        assert blob.returncode == 0, blob.stderr
        data = (clone / name).read_bytes()
        assert data == blob.stdout, name
        assert not data.startswith(POINTER_PREFIX), name


def deploy_scripts() -> tuple[str, str]:
    """The deploy job's LFS step, and its push step without the push (``git push`` lines dropped)."""
    steps = yaml.safe_load(DEPLOY.read_text())["jobs"]["deploy"]["steps"]
    runs = {step.get("name"): step["run"] for step in steps if "run" in step}
    assert LFS_STEP in runs, sorted(runs)
    (push,) = [script for script in runs.values() if "git push" in script]
    kept = [line for line in push.splitlines() if not line.strip().startswith("git push")]
    return runs[LFS_STEP], "\n".join(kept)


@pytest.mark.integration
def test_the_deploy_job_commits_the_binaries_as_lfs_pointers(clone: Path, lfs_env: dict[str, str]) -> None:
    """The deploy workflow's LFS step, then its push step up to the push, on a clone: the Space's commit
    holds every binary file as an LFS pointer, with the LFS rules in its .gitattributes."""
    lfs_step, push_step = deploy_scripts()
    head = git("rev-parse", "HEAD", cwd=clone).strip()
    env = {**lfs_env, "GITHUB_SHA": head}
    for script in (lfs_step, push_step):
        completed = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=clone, env=env, capture_output=True, text=True
        )
        assert completed.returncode == 0, f"{script}\n{completed.stdout}\n{completed.stderr}"
    committed = git("ls-tree", "-r", "--name-only", "HEAD", cwd=clone, env=env).splitlines()
    names = [name for name in committed if name.endswith(BINARY_SUFFIXES)]
    assert "weights/yolov3-tiny.safetensors" in names
    for name in names:
        content = subprocess.run(["git", "cat-file", "blob", f"HEAD:{name}"], cwd=clone, capture_output=True)
        assert content.stdout.startswith(POINTER_PREFIX), name
    assert sorted(git("lfs", "ls-files", "--name-only", cwd=clone, env=env).splitlines()) == sorted(names)
    attributes = git("show", "HEAD:.gitattributes", cwd=clone, env=env)
    assert "*.safetensors filter=lfs diff=lfs merge=lfs -text" in attributes
