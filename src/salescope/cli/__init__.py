"""The ``salescope`` command line: thin commands over the services.

A command parses its options, reads its files, maps them to one service's request
(``check_*``), calls the service (``do_*``) and renders the result; a ``FieldError`` of the
service is reported under the command's own name for the field (its option, or the file given
for it: ``common.fields``). No traceback reaches the user: errors a user can fix
(``SalescopeError``, a file or folder that cannot be read or written, a database that cannot
be opened or written) are printed as one message and exit with status 1; Ctrl-C and SIGTERM
stop the command cleanly (temporary files removed, the transaction rolled back) with status
130 and 143; anything else is a bug, reported in one line with the file holding its traceback,
status 3.

One module per command group: ``demo``, ``data`` (import), ``orders`` (next-orders, train,
evaluate, models, orders), ``coverage`` (assign, coverage, recommendations), ``feedback``,
``web`` (users, keys, serve); ``common`` holds what they share and ``entry`` the entry point.
"""

from __future__ import annotations

from salescope.cli import coverage, data, demo, feedback, orders, web
from salescope.cli.common import app, err, out
from salescope.cli.entry import main

# The top-level commands, in the order ``salescope --help`` lists them (the groups are added
# in ``common``, ``version`` first).
app.command()(demo.demo)
app.command("next-orders")(orders.next_orders)
app.command()(orders.train)
app.command()(orders.evaluate)
app.command()(coverage.assign)
app.command()(coverage.coverage)
app.command()(feedback.feedback)
app.command()(web.serve)

__all__ = ["app", "coverage", "data", "demo", "err", "feedback", "main", "orders", "out", "web"]
