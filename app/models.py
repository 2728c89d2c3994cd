"""The installed networks (stage 1 and 2) and the face finder, each loaded once, on first use.
Qt-free and thread-safe: the editor's jobs and a batch run in worker threads and may ask for them
at the same time."""
from __future__ import annotations

import threading
from typing import Callable


def default_engine():
    from app.inference.engine import Unmasker

    return Unmasker.from_installed("auto")


def default_finder():
    from app.faces import make_face_finder

    return make_face_finder()


class Models:
    def __init__(self, engine_factory: Callable | None = None, finder_factory: Callable | None = None) -> None:
        self._factories = {"engine": engine_factory or default_engine, "finder": finder_factory or default_finder}
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def _get(self, kind: str):
        with self._lock:
            if kind not in self._loaded:
                self._loaded[kind] = self._factories[kind]()
            return self._loaded[kind]

    def engine(self):
        return self._get("engine")

    def finder(self):
        return self._get("finder")

    @property
    def loaded_engine(self):
        """The engine if it was loaded already, else None (never loads it)."""
        return self._loaded.get("engine")
