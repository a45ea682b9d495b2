from __future__ import annotations

import pickle
import pkgutil

import pytest

import aim_artifacts
from aim_artifacts import errors


def leaves() -> list[type[errors.AimArtifactsError]]:
    return [getattr(errors, n) for n in errors.__all__]


@pytest.mark.parametrize("cls", leaves())
def test_every_error_is_in_the_tree_and_pickles(cls: type[errors.AimArtifactsError]) -> None:
    assert issubclass(cls, errors.AimArtifactsError)
    exc = cls("something went wrong")
    assert str(exc) == "something went wrong"
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is cls and str(clone) == "something went wrong"
    assert cls.__name__ in errors.__doc__


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InvalidNameError, ValueError),
        (errors.SourceNotFoundError, FileNotFoundError),
        (errors.ArtifactNotFoundError, FileNotFoundError),
        (errors.ArtifactNotFoundError, KeyError),
        (errors.SourceIsDirectoryError, IsADirectoryError),
        (errors.BackendUnavailableError, ImportError),
        (errors.RunNotFoundError, LookupError),
        (errors.UploadError, OSError),
    ],
)
def test_leaves_are_the_builtins_they_mean(cls: type, builtin: type) -> None:
    assert issubclass(cls, builtin)


def test_upload_error_keeps_failures_across_pickle() -> None:
    exc = errors.UploadError("1 failed", {"a.txt": FileNotFoundError("gone")})
    clone = pickle.loads(pickle.dumps(exc))
    assert str(clone) == "1 failed"
    assert isinstance(clone.failures["a.txt"], FileNotFoundError)


def test_public_surface_is_exactly_all() -> None:
    public = {n for n in dir(aim_artifacts) if not n.startswith("_")}
    modules = {m.name for m in pkgutil.iter_modules(aim_artifacts.__path__)}
    assert public - modules == set(aim_artifacts.__all__)
    assert aim_artifacts.__all__ == sorted(
        aim_artifacts.__all__, key=lambda n: (not n.isupper(), n)
    )
    assert {"Run", "Artifact", "Store"} <= set(aim_artifacts.__all__)
