"""What a long job (ingest, a Europeana pull, an annotation push) tells whoever watches it.

One protocol for every job, so every front end draws the same bar: the CLI's
:class:`TqdmProgress`, a test's recorder, or :class:`SilentProgress` when nobody watches.
It lives here, in the lowest layer, because the jobs that report sit in several layers
above (the engine's ingest, the sync jobs) and all of them may import it.

A job says how much there is (:meth:`~ProgressObserver.start`), how much is done
(:meth:`~ProgressObserver.advance`) and, now and then, a line about one item
(:meth:`~ProgressObserver.message`). The line is already formatted for a person; its
:class:`Level` tells a quiet front end whether it may drop it. Machine-readable outcomes
(which files failed, with which code) belong in the job's own summary, not in these lines.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["Level", "ProgressObserver", "SilentProgress", "TqdmProgress"]


class Level(str, Enum):
    """How much a :meth:`ProgressObserver.message` line matters to someone who asked for quiet."""

    #: For someone watching: a duplicate linked, or a failure the job's summary lists again.
    #: A quiet front end drops it.
    NOTE = "note"
    #: A failure only this line names (the summary just counts it): always shown.
    ERROR = "error"


class ProgressObserver(Protocol):
    """What a front end hears while a job runs."""

    def start(self, total: int | None, done: int = 0) -> None:
        """``total`` items to go through (``None``: not known yet), ``done`` of them already
        done by an earlier run that this one resumes."""
        ...

    def advance(self, n: int = 1) -> None:
        """``n`` more items are finished, whatever became of them."""
        ...

    def message(self, text: str, level: Level = Level.NOTE) -> None:
        """A line about one item, e.g. ``error: PATH: CODE: MESSAGE``."""
        ...


class SilentProgress:
    """Hears everything, shows nothing: the default when no front end is watching."""

    def start(self, total: int | None, done: int = 0) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def message(self, text: str, level: Level = Level.NOTE) -> None:
        pass


class TqdmProgress:
    """A tqdm bar on stderr, with the job's lines written above it (``tqdm.write``).

    ``quiet`` hides the bar and :attr:`Level.NOTE` lines; :attr:`Level.ERROR` lines are
    always written. stdout is left alone, so ``--json`` output stays machine-readable.
    Use it as a context manager, or call :meth:`close`, so the bar's last line is finished.
    """

    def __init__(self, desc: str, unit: str = "it", *, quiet: bool = False, leave: bool = True) -> None:
        self.desc, self.unit, self.quiet, self.leave = desc, unit, quiet, leave
        self.bar: tqdm[Any] | None = None

    def start(self, total: int | None, done: int = 0) -> None:
        from tqdm import tqdm

        self.close()
        self.bar = tqdm(
            total=total,
            initial=done,
            unit=self.unit,
            desc=self.desc,
            disable=self.quiet,
            leave=self.leave,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def message(self, text: str, level: Level = Level.NOTE) -> None:
        from tqdm import tqdm

        if level is Level.ERROR or not self.quiet:
            tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
