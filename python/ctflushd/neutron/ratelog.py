"""Log lines with a rate limit per kind, for failures a flood of input or a
daemon that stays down could repeat thousands of times.

Owns: per key, when it last logged and how many lines it held back since.
"""

import logging
import time


class RateLimitedLog:
    """One line per key per interval; the next line that gets through says
    how many were held back."""

    def __init__(self, log, interval):
        self._log = log         # an oslo.log (or logging) logger
        self._interval = interval
        self._last = {}         # key -> (monotonic time of the last line, lines held back)

    def _emit(self, level, key, msg, args):
        now = time.monotonic()
        last, held = self._last.get(key, (None, 0))
        if last is not None and now - last < self._interval:
            self._last[key] = (last, held + 1)
            return False
        self._last[key] = (now, 0)
        if held:
            msg = msg + " (%d similar messages suppressed)"
            args = tuple(args) + (held,)
        self._log.log(level, msg, *args)
        return True

    def warning(self, key, msg, *args):
        return self._emit(logging.WARNING, key, msg, args)

    def error(self, key, msg, *args):
        return self._emit(logging.ERROR, key, msg, args)

    def info(self, key, msg, *args):
        return self._emit(logging.INFO, key, msg, args)

    def reset(self, key):
        """The condition is over: its next line is logged at once."""
        self._last.pop(key, None)
