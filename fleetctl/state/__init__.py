"""The one SQLite state store: stake history, alerts and their outbox, remediations, stake
batches and the claims read from the chain, in one file.

:mod:`fleetctl.state.db` finds, opens and migrates the file and holds the one transaction
helper; :mod:`fleetctl.state.schema` the ordered migrations; one module per concern holds its
rows and SQL: :mod:`~fleetctl.state.stakes`, :mod:`~fleetctl.state.alerts`,
:mod:`~fleetctl.state.outbox`, :mod:`~fleetctl.state.remediation`, :mod:`~fleetctl.state.batches`,
:mod:`~fleetctl.state.claims`. Nothing here imports
anything of fleetctl outside :mod:`fleetctl.core` and this package; nothing is imported here, so
that importing one module costs only that module.
"""
