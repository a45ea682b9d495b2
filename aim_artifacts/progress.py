"""Progress bars: a tqdm bar of bytes with a count of files, through fsspec's callbacks."""

from __future__ import annotations

import threading

from fsspec.callbacks import TqdmCallback

__all__ = ["ProgressBar"]


class ProgressBar:
    """Fed from worker threads: `add` for bytes moved, `file_done` for each finished file."""

    def __init__(self, description: str, total_bytes: int, total_files: int) -> None:
        self._lock = threading.Lock()
        self._files = 0
        self._total_files = total_files
        self._callback = TqdmCallback(
            tqdm_kwargs={
                "desc": description,
                "unit": "B",
                "unit_scale": True,
                "unit_divisor": 1024,
                "leave": True,
            }
        )
        self._callback.set_size(total_bytes)
        self._show_files()

    def add(self, nbytes: int) -> None:
        """Count `nbytes` more bytes moved."""
        with self._lock:
            self._callback.relative_update(nbytes)

    def file_done(self) -> None:
        """Count one more finished file."""
        with self._lock:
            self._files += 1
            self._show_files()

    def close(self) -> None:
        """Close the bar, leaving it on screen."""
        with self._lock:
            self._callback.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _show_files(self) -> None:
        self._callback.tqdm.set_postfix_str(f"{self._files}/{self._total_files} files")
