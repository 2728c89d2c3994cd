"""Model work off the GUI thread: one QThread runs one job (a plain function) and reports progress,
interim results, the result, or an error in words. Cancel sets a flag that the job's progress
callback checks (and that long jobs such as a batch may watch themselves: `cancel_event`). The
editor's jobs and the batch dialog's run both go through this one class."""
from __future__ import annotations

import logging
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal

from app.errors import UnmaskerError

log = logging.getLogger(__name__)


class Cancelled(Exception):
    pass


class Job(QThread):
    progress = Signal(str, float)  # what, fraction done
    interim = Signal(object)  # anything the job sends on the way (a batch: each photo's result)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, name: str, fn: Callable[[Callable[[str, float], None]], Any], parent=None,
                 keep_result_on_cancel: bool = False) -> None:
        super().__init__(parent)
        self.name = name
        self.fn = fn
        self.keep_result_on_cancel = keep_result_on_cancel  # a cancelled batch still has its summary
        self._cancel = threading.Event()

    @property
    def cancel_event(self) -> threading.Event:
        return self._cancel

    def cancel(self) -> None:
        self._cancel.set()

    def send(self, item: Any) -> None:
        """From the job's function: hand an interim result to the GUI thread."""
        self.interim.emit(item)

    def _report(self, what: str, done: float) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        self.progress.emit(what, float(done))

    def run(self) -> None:  # runs in the worker thread
        try:
            result = self.fn(self._report)
            if self._cancel.is_set() and not self.keep_result_on_cancel:
                raise Cancelled()
        except Cancelled:
            self.cancelled.emit()
        except UnmaskerError as e:
            self.failed.emit(str(e))
        except MemoryError:
            self.failed.emit("Out of memory: the photo is too large for this computer.")
        except Exception as e:  # never a traceback in the user's face; the log keeps it
            log.error("%s failed:\n%s", self.name, traceback.format_exc())
            self.failed.emit(f"Something went wrong while {self.name}: {type(e).__name__}: {e}")
        else:
            self.succeeded.emit(result)
