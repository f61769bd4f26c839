"""The TUI's widgets and modal screens: command bar, confirmation, describe, help."""
