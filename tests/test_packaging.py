"""What a project depending on aim-artifacts relies on: one version, the module entry point,
the type marker."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import subprocess
import sys

import aim_artifacts


def test_version_is_the_installed_distributions() -> None:
    assert aim_artifacts.__version__ == importlib.metadata.version("aim-artifacts")


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aim_artifacts", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_dash_m_runs_the_command_line() -> None:
    result = run_module("--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: python -m aim_artifacts" in result.stdout
    assert " ls " in result.stdout  # the subcommands are listed


def test_python_dash_m_version_prints_the_version() -> None:
    result = run_module("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"python -m aim_artifacts, version {aim_artifacts.__version__}\n"


def test_the_package_says_it_is_typed() -> None:
    assert importlib.resources.files("aim_artifacts").joinpath("py.typed").is_file()
