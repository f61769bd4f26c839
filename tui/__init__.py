"""fleetctl's Textual app (``fleetctl tui``); ships inside the wheel as ``fleetctl.tui``."""
