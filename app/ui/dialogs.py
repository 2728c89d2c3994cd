"""The editor's questions to the user: which photo to open, where to export (and at what
quality), which mask file, and what to do with unexported changes."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QPushButton

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"
EXPORT_FILTER = "JPEG (*.jpg *.jpeg);;PNG (*.png);;WebP (*.webp);;TIFF (*.tif *.tiff)"
MAX_RECENT = 8


def remember_recent(settings, path: Path) -> None:
    recent = [p for p in (settings.value("recent", []) or []) if p != str(path)]
    settings.setValue("recent", [str(path), *recent][:MAX_RECENT])


def fill_recent(menu, settings, open_path) -> None:
    """The File > Open recent menu, newest first."""
    menu.clear()
    for p in settings.value("recent", []) or []:
        menu.addAction(p).triggered.connect(lambda _=False, p=p: open_path(Path(p)))
    menu.setEnabled(not menu.isEmpty())


def ask_photo(parent, title: str, start: str) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, start, PHOTO_FILTER)
    return Path(path) if path else None


def ask_save(parent, title: str, start: Path, filter: str = "PNG (*.png)") -> Path | None:
    """The file dialog itself asks before replacing an existing file."""
    path, _ = QFileDialog.getSaveFileName(parent, title, str(start), filter)
    return Path(path) if path else None


def ask_export(parent, start: Path, settings) -> tuple[Path, int | None] | None:
    """Where to export the unmasked photo and, for JPEG and WebP, at what quality (remembered)."""
    path = ask_save(parent, "Export the unmasked photo", start, EXPORT_FILTER)
    if path is None:
        return None
    if path.suffix.lower() not in (".jpg", ".jpeg", ".webp"):
        return path, None
    quality, ok = QInputDialog.getInt(parent, "Export quality", "Quality (1-100):",
                                      int(settings.value("export/quality", 95)), 1, 100)
    if not ok:
        return None
    settings.setValue("export/quality", quality)
    return path, quality


def unexported_changes_box(parent, can_export: bool) -> tuple[QMessageBox, QPushButton, QPushButton]:
    """The question asked before unexported changes would be lost: Export first, Discard, and
    Cancel as the default (Enter and Esc lose nothing)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Unexported changes", "This photo has changes that were not exported.",
                      parent=parent)
    box.setInformativeText("Export them first, or discard them?")
    export = box.addButton("&Export...", QMessageBox.ButtonRole.AcceptRole)
    export.setEnabled(can_export)
    if not can_export:
        export.setToolTip("Nothing is unmasked yet: unmask first (Ctrl+Enter)")
    discard = box.addButton(QMessageBox.StandardButton.Discard)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    return box, export, discard
