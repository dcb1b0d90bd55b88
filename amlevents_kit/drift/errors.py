"""The one error type the drift module raises for bad input."""


class DriftError(ValueError):
    """Bad input to profile() or detect(): the message names the column and what is allowed."""


class DriftWarning(UserWarning):
    """Drift was computed, but something about the input deserves a look (columns left out, too few rows)."""


def whole_number(value, name: str, minimum: int) -> int:
    """Return value as an int >= minimum, or raise DriftError naming the option."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DriftError(f"{name} must be a whole number >= {minimum}, got {value!r:.80}")
    return int(value)


def fraction(value, name: str, *, low_open: bool) -> float:
    """Return value as a float in (0, 1] (low_open) or [0, 1], or raise DriftError naming the option."""
    import numbers

    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and ((0 < value <= 1) if low_open else (0 <= value <= 1))
    if not ok:
        span = "(0, 1]" if low_open else "[0, 1]"
        raise DriftError(f"{name} must be a number in {span}, got {value!r:.80}")
    return float(value)


def seed(value, name: str = "random_state"):
    """Accept None or a whole number >= 0 as a random seed."""
    return None if value is None else whole_number(value, name, 0)


def names(value, name: str) -> list:
    """Accept one column name or a list/tuple of them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise DriftError(f"{name} must be a column name or a list of column names, got {value!r:.80}")
