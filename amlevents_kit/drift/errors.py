"""The one error type the drift module raises for bad input."""


class DriftError(ValueError):
    """Bad input to profile() or detect(): the message names the column and what is allowed."""
