"""The one exception a script turns into a one-line message and exit code 2."""


class InputError(Exception):
    """Bad input from the user: a data file, a flag value, a run folder.

    The message names what was wrong and where, in one line; the scripts print it
    without a traceback and exit with code 2.
    """
