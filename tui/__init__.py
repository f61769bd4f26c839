"""fleetctl's Textual app (``fleetctl tui``); ships inside the wheel as ``fleetctl.tui``.

A front like the CLI: it computes nothing of its own. Every view asks :class:`~fleetctl.tui.source.Source`
for one workflow's result (``fleetctl.workflows.*``) in a worker thread, with a
:class:`~fleetctl.core.events.CancelToken`, and renders the typed result and events. textual is
imported here and only here (the ``fleetctl tui`` command imports this package lazily).

Layout: :mod:`.app` (the App: modes, command bar, bindings), :mod:`.screens` (one module per
view), :mod:`.widgets` (the command bar, confirmations, describe, help, bars), :mod:`.source`
(the workflows the views call), :mod:`.rows` (rows, filters, cells: no textual), ``styles/*.tcss``.
"""
