"""Rules for artifact names and run hashes (pure: no I/O)."""

from __future__ import annotations

import re
import secrets

from .errors import InvalidNameError

__all__ = [
    "RESERVED_PREFIX",
    "check_name",
    "check_run_hash",
    "is_run_hash",
    "is_valid_name",
    "join_name",
    "new_run_hash",
]

#: Names of the library's own files in a run directory start with this; artifacts can't.
RESERVED_PREFIX = ".aim-artifacts"

_RUN_HASH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_run_hash() -> str:
    """A new run hash: 24 lowercase hex characters, as Aim's."""
    return secrets.token_hex(12)


def check_run_hash(run_hash: str) -> str:
    """Return `run_hash` if it is one safe path segment.

    Raises:
        InvalidNameError: it is not 1-128 letters, digits, ``_`` or ``-`` (not starting with
            ``_`` or ``-``).
    """
    if not isinstance(run_hash, str) or not _RUN_HASH.fullmatch(run_hash):
        msg = f"invalid run hash {run_hash!r}: use 1-128 letters, digits, '_' or '-'"
        raise InvalidNameError(msg)
    return run_hash


def is_run_hash(name: str) -> bool:
    """True if `name` is a valid run hash (see `check_run_hash`)."""
    return isinstance(name, str) and bool(_RUN_HASH.fullmatch(name))


def check_name(name: str) -> str:
    """Return `name` if it is a valid artifact name: a relative posix path inside the run.

    Raises:
        InvalidNameError: empty, absolute, a ``.``/``..``/empty segment, a backslash or a
            control character, or a segment starting with ``.aim-artifacts``.
    """
    if not isinstance(name, str):
        msg = f"artifact name must be a str, not {type(name).__name__}"
        raise InvalidNameError(msg)
    problem = _problem(name)
    if problem:
        msg = f"invalid artifact name {name!r}: {problem}"
        raise InvalidNameError(msg)
    return name


def is_valid_name(name: object) -> bool:
    """True if `check_name` accepts `name` (checked without building a message)."""
    return isinstance(name, str) and _problem(name) is None


def join_name(prefix: str, relative: str) -> str:
    """The name of a file at posix path `relative` inside a directory logged as `prefix`."""
    return check_name(f"{prefix}/{relative}" if prefix else relative)


def _problem(name: str) -> str | None:
    if (  # the common case at C speed: printable, no part starts with '.', none is empty
        name.isprintable()
        and name[:1] not in ("", "/", ".")
        and "/." not in name
        and "//" not in name
        and name[-1] != "/"
        and "\\" not in name
    ):
        return None
    if not name:
        return "it is empty"
    if name.startswith("/"):
        return "it must be relative (no leading '/')"
    if "\\" in name:
        return "use '/' to separate parts, not '\\'"
    if _CONTROL.search(name):
        return "it contains a control character"
    for part in name.split("/"):
        if part == "":
            return "it has an empty part ('//' or a trailing '/')"
        if part in (".", ".."):
            return f"it has a {part!r} part"
        if part.startswith(RESERVED_PREFIX):
            return f"parts starting with {RESERVED_PREFIX!r} are reserved"
    return None
