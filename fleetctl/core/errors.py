"""Errors that end a command with one clear line on stderr and an exit code, never a traceback."""


class FleetError(Exception):
    """A failure the user can act on (unreachable lab, missing tool, bad argument)."""

    code = 1

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class UserError(FleetError):
    """A usage mistake: exit 2."""

    code = 2
