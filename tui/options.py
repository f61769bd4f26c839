"""What ``fleetctl tui`` was started with (no textual: the command builds it before importing the app)."""

from __future__ import annotations

from fleetctl.core.records import record



@record(frozen=True)
class TuiOptions:
    inventory: str
    #: refuse every action that changes anything (apply, scale, stake, remediate, mute...)
    read_only: bool = False
    #: seconds between refreshes of the view on screen (0: only on request)
    refresh_s: float = 10.0
    no_color: bool = False
    #: the state store (stake history, alerts, remediation); None: fleet.yml's, else the default
    db: str | None = None
    #: the view shown first
    start: str = "fleet"
