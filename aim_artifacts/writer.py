"""`ArtifactWriter`: the file `Run.open_artifact` yields, hashed as it is written."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import IO, Any

from .location import Location
from .records import Artifact
from .transfer import part_size

__all__ = ["ArtifactWriter", "writing"]


class ArtifactWriter:
    """A write-only binary file over a sink that appears in storage when its block ends."""

    def __init__(self, sink: IO[bytes], location: Location) -> None:
        self._sink = sink
        self._location = location
        self._digest = hashlib.sha256()
        self.size: int = 0  # bytes written so far
        self._artifact: Artifact | None = None

    def write(self, data: Any) -> int:
        """Write `data` (any buffer); returns the number of bytes written."""
        view = memoryview(data).cast("B")
        with self._location.storage_errors():  # object stores upload parts as they fill
            self._sink.write(view)
        self._digest.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        """Bytes written so far."""
        return self.size

    def flush(self) -> None:
        """Bytes reach storage when the block ends; nothing to do before."""

    def writable(self) -> bool:
        """True."""
        return True

    def readable(self) -> bool:
        """False."""
        return False

    def seekable(self) -> bool:
        """False: the bytes are hashed in order."""
        return False

    @property
    def sha256(self) -> str:
        """The sha256 of the bytes written so far."""
        return self._digest.hexdigest()

    @property
    def artifact(self) -> Artifact:
        """The record, once the ``with`` block has ended and the bytes are stored."""
        if self._artifact is None:
            msg = "the artifact is stored and recorded when the with block ends"
            raise RuntimeError(msg)
        return self._artifact

    def recorded_as(self, artifact: Artifact) -> None:
        """Set the record, once stored."""
        self._artifact = artifact


@contextlib.contextmanager
def writing(location: Location, path: str) -> Iterator[ArtifactWriter]:
    """A writer whose bytes appear at `path`, whole, if the block ends without error; if it
    raises, nothing is stored and the caller's error comes out as raised."""
    storing = contextlib.ExitStack()
    with location.storage_errors():
        sink = storing.enter_context(location.storage.open_write(path, part_size(0)))
    writer = ArtifactWriter(sink, location)
    try:
        yield writer
    except BaseException as exc:
        storing.__exit__(type(exc), exc, exc.__traceback__)
        raise
    with location.storage_errors():
        storing.close()  # the object appears, whole
