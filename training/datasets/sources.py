"""Checks on the user's data source before anything reads it: a regular file (a FIFO or a
device would block or never end), an image folder without link loops or FIFOs, a CSV of sane
width (its header alone decides)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from training.datasets.registry import DatasetError

MAX_CSV_COLUMNS = 1 << 16  # a CSV's columns (the header line is read first, at most MAX_CSV_HEADER)
MAX_CSV_HEADER = 16 << 20


def check_regular(path: Path):
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise DatasetError(
            f"{path} is not a regular file (a FIFO, a device or a socket): reading it could "
            "wait or run forever. Give a .npz file, a .csv file or a folder of images."
        )


def check_csv_width(path: Path, sep: str):
    """Refuse, with one line, a CSV whose header has more columns than a table edgezoo trains on
    (pandas takes minutes on 10^5 columns before any message)."""
    with open(path, "rb") as f:
        header = f.readline(MAX_CSV_HEADER)
    columns = header.count(sep.encode()) + 1
    if columns > MAX_CSV_COLUMNS or (len(header) == MAX_CSV_HEADER and not header.endswith(b"\n")):
        raise DatasetError(
            f"{path} has {'over ' if columns <= MAX_CSV_COLUMNS else ''}{columns} columns in its "
            f"header; edgezoo reads at most {MAX_CSV_COLUMNS} (tabular features and a label). "
            "Store many features (an image, a signal) as arrays in a .npz."
        )


def check_folder(path: Path):
    """A folder of images as the image reader walks it (following links): refuse, with one line,
    a link that loops back to a folder above it and a file that is no regular file (a FIFO named
    x.png would block the reader forever)."""
    seen = {os.path.realpath(path)}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            real = os.path.realpath(full)
            if os.path.islink(full) and (real in seen or path_is_above(real, dirpath)):
                raise DatasetError(
                    f"{full} is a link to {real}, a folder it lies in (a loop): the images would "
                    "be read again and again. Remove the link."
                )
            seen.add(real)
        for f in filenames:
            full = os.path.join(dirpath, f)
            try:
                regular = stat.S_ISREG(os.stat(full).st_mode)
            except OSError:  # a dangling link: the reader skips it
                continue
            if not regular:
                raise DatasetError(
                    f"{full} is not a regular file (a FIFO, a device or a socket): reading it "
                    "could wait forever. Remove it from the data folder."
                )


def path_is_above(real: str, dirpath: str) -> bool:
    here = os.path.realpath(dirpath)
    return here == real or here.startswith(real.rstrip(os.sep) + os.sep)
