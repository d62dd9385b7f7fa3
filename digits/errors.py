"""The one exception a script turns into a one-line message and exit code 2, and a helper for such lines."""


class InputError(Exception):
    """Bad input from the user: a data file, a flag value, a run folder.

    The message names what was wrong and where, in one line; the scripts print it
    without a traceback and exit with code 2.
    """


def first_line(error):
    """The first line of an exception's message (or its type's name), for one-line reports."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
