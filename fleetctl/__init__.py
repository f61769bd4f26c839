"""fleetctl: a fleet manager for Pocket Network node operators."""

__version__ = "0.1.0"
