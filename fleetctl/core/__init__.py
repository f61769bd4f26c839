"""The shared kernel at the bottom of the library: levels, errors, redaction, the HTTP client,
units (amounts and durations), the port and label layout, image lookup and shipped data. It
imports nothing else of fleetctl."""
