"""Errors raised by the data loaders.

Both derive from :class:`DataError`, and from the builtin exception a caller
would naturally catch: a missing dataset is a :class:`FileNotFoundError`
(an :class:`OSError`), a damaged one a :class:`ValueError`.
"""
from __future__ import annotations


class DataError(Exception):
    """Base class of every adaptlr data error."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The files of a dataset were found nowhere.

    The message lists the missing files, every place looked in (and why each
    did not serve), and how to provide the files.
    """

    def __str__(self) -> str:  # FileNotFoundError would format errno/filename
        return str(self.args[0]) if self.args else ""


class CorruptDataError(DataError, ValueError):
    """A dataset file exists but is damaged or is not the expected file.

    The message names the file and what is wrong with it (truncated gzip,
    wrong magic number, wrong size or dimensions, wrong checksum). Nothing is
    returned from a load that raised this error.
    """
