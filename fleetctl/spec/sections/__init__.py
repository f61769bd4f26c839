"""One module per section of an inventory, each checking its section and building its part of
the model: :mod:`.hosts` (hosts.yml with group_vars/ and host_vars/), and for fleet.yml
:mod:`.pocket` (protocol, pocket), :mod:`.chains`, :mod:`.suppliers`, :mod:`.stake`,
:mod:`.profiles`, :mod:`.health` and :mod:`.alerts`; :mod:`.common` holds the error collector and
the typed readers they share. :mod:`fleetctl.spec.loader` reads the files and calls them in order.
"""
