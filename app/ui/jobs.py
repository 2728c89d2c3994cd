"""The editor's model work on the open photo, one job at a time in a worker thread (`worker.Job`):
find the faces and stage 1's masks, find the face in a box the user drew, unmask. Each runs the
pipeline's own functions (app/pipeline.py) and hands its answer to a callback on the GUI thread;
the window turns that into the document's edits."""
from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.errors import UnmaskerError
from app.models import Models
from app.ui.worker import Job


class PhotoJobs(QObject):
    progress = Signal(str, float)  # what is being done, fraction done
    failed = Signal(str)
    cancelled = Signal()
    busy_changed = Signal(bool)

    def __init__(self, models: Models, parent=None) -> None:
        super().__init__(parent)
        self.models = models
        self.job: Job | None = None

    def _start(self, name: str, fn, done: Callable) -> bool:
        if self.job is not None:
            return False
        self.job = Job(name, fn, self)
        self.job.progress.connect(self.progress)
        self.job.succeeded.connect(done)
        self.job.failed.connect(self.failed)
        self.job.cancelled.connect(self.cancelled)
        self.job.finished.connect(self._finished)
        self.busy_changed.emit(True)
        self.job.start()
        return True

    def _finished(self) -> None:
        if self.job is not None:
            self.job.deleteLater()
        self.job = None
        self.busy_changed.emit(False)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def stop(self, wait_ms: int = 10000) -> None:
        """Cancel and wait for the worker (closing the window)."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(wait_ms)

    def find_faces(self, pixels: np.ndarray, done: Callable) -> bool:
        """done((faces, photo-space mask or None, problem)): with no model installed the faces
        still come back (the user can paint the mask), and `problem` says why there is no mask."""
        def work(report):
            from app.pipeline import find_faces, segment_photo

            report("finding faces", 0.0)
            faces = find_faces(pixels, self.models.finder())
            try:
                return faces, segment_photo(pixels, faces, self.models.engine(), report), ""
            except UnmaskerError as e:
                return faces, None, str(e)

        return self._start("finding faces", work, done)

    def face_in_box(self, pixels: np.ndarray, box: tuple[float, float, float, float], done: Callable) -> bool:
        """done((face, photo-space mask))."""
        def work(report):
            from app.pipeline import find_faces, segment_photo

            report("finding the face in the box", 0.0)
            face = find_faces(pixels, self.models.finder(), boxes=[box])[0]
            return face, segment_photo(pixels, [face], self.models.engine(), report)

        return self._start("finding the face in the box", work, done)

    def unmask(self, pixels: np.ndarray, faces: list, mask: np.ndarray, done: Callable) -> bool:
        """done((pixels, notes)): the faces filled where `mask` says, from the original pixels."""
        def work(report):
            from app.pipeline import unmask_faces

            result = unmask_faces(pixels, faces, self.models.engine(), mask_in=mask, progress=report)
            return result.pixels, result.notes

        return self._start("unmasking", work, done)
