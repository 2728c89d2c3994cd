"""`unmasker` with no command (or with photos): the Qt application and its editor windows."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.paths import resources_dir
from app.ui.main_window import MainWindow


def run(photos: list[str]) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Unmasker")
    app.setApplicationName("Unmasker")
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "unmasker.png")))
    windows = []  # one window per photo given (or one empty window)
    for photo in photos or [None]:
        window = MainWindow()
        window.show()
        if photo is not None:
            QTimer.singleShot(0, lambda w=window, p=photo: w.open_path(Path(p)))
        windows.append(window)
    app._unmasker_windows = windows  # type: ignore[attr-defined]  # kept alive for the session
    if os.environ.get("UNMASKER_QUIT_AFTER_SHOW") == "1":  # start-up timing: quit once the window is up
        QTimer.singleShot(0, app.quit)
    return app.exec()
