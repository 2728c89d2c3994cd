"""The frozen program's entry point: the same dispatch as `unmasker` from source."""
import multiprocessing
import sys

from app.__main__ import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
