"""Errors a user can cause. Each message quotes the bad value and says the way out.

Library code raises these; only `n00bqa.cli` turns them into `Error: ...` on stderr and a
non-zero exit (set N00BQA_DEBUG=1 to see the traceback instead).
"""


class N00bqaError(Exception):
    """Base class: a mistake in the user's input or files, never a bug in n00bqa."""


class RootError(N00bqaError):
    """No study root (a folder holding questions/) could be found."""


class QuestionError(N00bqaError):
    """A question id, status or question file is wrong."""


class ProbeError(N00bqaError):
    """An unknown probe, a bad probe option, or a model folder that cannot be used."""


class CorpusError(N00bqaError):
    """A reading-list item that cannot be added or read."""


class RetrievalIndexError(N00bqaError):
    """The retrieval index is missing, corrupt, busy or built with another model."""


class AskError(N00bqaError):
    """A query that cannot be answered as given (empty, too long)."""


class WriteError(N00bqaError):
    """A file or folder n00bqa must write cannot be written (a read-only study root, a full disk)."""


class ReviewError(N00bqaError):
    """A quiz or review that cannot go on as asked (a guess that is no number, a rating that is none)."""


class SettingError(N00bqaError):
    """An environment setting (N00BQA_*) outside its range or not a number."""
