"""Workflows: one module per job (apply, scale, stake_batch, preflight, claims, diversity, health,
stakes, alerts, rotation, fleet, logs), the one place every multi-step job lives so the CLI, the TUI, cron and the
exporter only render. Each job has a side-effect-free ``prepare(...)`` that says what would change
or what will be read (for a confirmation or a dry run) and an ``execute(..., on_event=None,
cancel=None)`` that does it and returns a typed result; progress goes to ``on_event`` as the typed
events of :mod:`fleetctl.core.events`, and a :class:`~fleetctl.core.events.CancelToken` stops the
job at a safe point. No workflow prints, reads input or asks for confirmation: fronts do.
"""
