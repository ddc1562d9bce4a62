"""The imperative shell around the sans-I/O core: runner, CLI, traces and records.

Everything with a clock, a file, a signal or a terminal lives here, never in core/.
"""

import logging

# A library does not print: the maker's application routes these loggers (iontocore.shell.*)
logging.getLogger(__name__).addHandler(logging.NullHandler())
