"""Pocket Network chain access and the stake monitor.

``http`` (async JSON client), ``base`` (the adapter interface and its data types), ``shannon``
and ``morse`` (the two adapters), ``stakes`` (levels and the sweep: :func:`stakes.check_stakes`)
and ``history`` (the SQLite store of past runs). Import the submodules you need: this package
imports nothing, so ``fleetctl`` start-up stays light.
"""
