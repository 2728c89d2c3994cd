"""File > Batch: unmask a folder of photos from the window, with progress, a live list of results
with thumbnails, Cancel, and "Open in editor" to fix one result's mask by hand."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from app.batch import BatchOptions, BatchRunner, ItemResult, list_inputs
from app.ui.worker import Job

THUMB = 96


def thumbnail(path: Path) -> QIcon:
    img = QImage(str(path))
    if img.isNull():
        return QIcon()
    return QIcon(QPixmap.fromImage(img.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation)))


class BatchDialog(QDialog):
    open_in_editor = Signal(str, str)  # input photo, its output path

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Batch: unmask a folder")
        self.resize(720, 620)
        self.thread: Job | None = None
        self.results: list[ItemResult] = []
        self.summary = None
        self.error = ""
        s = window.settings
        self.in_edit = QLineEdit(s.value("batch/in", ""))
        self.out_edit = QLineEdit(s.value("batch/out", ""))
        self.recursive = QCheckBox("Include subfolders")
        self.recursive.setChecked(s.value("batch/recursive", "true") in (True, "true"))
        self.suffix = QLineEdit(s.value("batch/suffix", "_unmasked"))
        self.format = QComboBox()
        self.format.addItems(["same", "jpg", "png"])
        self.no_face = QComboBox()
        self.no_face.addItems(["copy", "skip"])
        self.overwrite = QCheckBox("Redo outputs that already exist")
        form = QFormLayout()
        form.addRow("Photos from", self._with_browse(self.in_edit))
        form.addRow("Results to", self._with_browse(self.out_edit))
        form.addRow("", self.recursive)
        form.addRow("Name suffix", self.suffix)
        form.addRow("Format", self.format)
        form.addRow("Photos with no face or mask", self.no_face)
        form.addRow("", self.overwrite)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.status = QLabel("Choose the folders, then Start.")
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.itemDoubleClicked.connect(self._open_item)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.open_button = QPushButton("Open in editor")
        self.open_button.clicked.connect(lambda: self._open_item(self.list.currentItem()))
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.open_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(edit, 1)
        b = QPushButton("Browse...")
        b.clicked.connect(lambda: edit.setText(QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
                                               or edit.text()))
        h.addWidget(b)
        return w

    def start(self) -> None:
        in_dir, out_dir = Path(self.in_edit.text().strip()), Path(self.out_edit.text().strip())
        if not self.in_edit.text().strip() or not in_dir.is_dir():
            self._fail(f"Choose a folder of photos ({in_dir} is not a folder).")
            return
        if not self.out_edit.text().strip():
            self._fail("Choose a folder for the results.")
            return
        s = self.window_.settings
        for key, value in (("in", str(in_dir)), ("out", str(out_dir)), ("recursive", self.recursive.isChecked()),
                           ("suffix", self.suffix.text())):
            s.setValue(f"batch/{key}", value)
        options = BatchOptions(recursive=self.recursive.isChecked(), suffix=self.suffix.text(),
                               format=self.format.currentText(), no_face=self.no_face.currentText(),
                               overwrite=self.overwrite.isChecked())
        self.results, self.summary, self.error = [], None, ""
        self.list.clear()
        self.t0 = time.perf_counter()
        window = self.window_

        def work(_report):
            job.send(sum(1 for _ in list_inputs(in_dir, options.recursive, exclude=out_dir)))  # the total
            runner = BatchRunner(window.engine(), window.finder(), options, job.cancel_event,
                                 lambda r, n: job.send((r, n)))
            return runner.run(in_dir, out_dir, out_dir / "report.csv")

        job = self.thread = Job("unmasking the folder", work, self, keep_result_on_cancel=True)
        self.out_dir = out_dir
        job.interim.connect(self._interim)
        job.succeeded.connect(self._done)
        job.failed.connect(self._fail)
        self.thread.finished.connect(self._finished)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Starting...")
        self.thread.start()

    def cancel(self) -> None:
        if self.thread is not None:
            self.thread.cancel()
            self.status.setText("Stopping after the photo in hand...")

    def _interim(self, item) -> None:
        if isinstance(item, int):  # the number of files, first
            self.progress.setRange(0, max(1, item))
            self.progress.setValue(0)
        else:
            self._result(*item)

    def _result(self, r: ItemResult, n: int) -> None:
        self.results.append(r)
        self.progress.setValue(n)
        elapsed = time.perf_counter() - self.t0
        rate = n / elapsed if elapsed > 0 else 0.0
        left = (self.progress.maximum() - n) / rate if rate > 0 else 0.0
        self.status.setText(f"{n} of {self.progress.maximum()} files, {rate:.2f} per second, about "
                            f"{_duration(left)} left")
        text = f"{r.input}: {r.status.replace('_', ' ')}"
        if r.faces_found:
            text += f", {r.faces_unmasked} of {r.faces_found} face(s) unmasked"
        if r.error:
            text += f": {r.error}"
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, r)
        if r.output:
            item.setIcon(thumbnail(self.out_dir / r.output))
        self.list.addItem(item)

    def _done(self, summary) -> None:
        self.summary = summary
        self.status.setText(summary.text() + f". Report: {self.out_dir / 'report.csv'}")

    def _fail(self, message: str) -> None:
        self.error = message
        self.status.setText(message)

    def _finished(self) -> None:
        self.thread = None
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _open_item(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        r: ItemResult = item.data(Qt.ItemDataRole.UserRole)
        source = Path(self.in_edit.text()) / r.input
        output = str(self.out_dir / r.output) if r.output else ""
        self.open_in_editor.emit(str(source), output)

    def closeEvent(self, event) -> None:
        if self.thread is not None:
            self.thread.cancel()
            self.thread.wait(60000)
        super().closeEvent(event)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"

