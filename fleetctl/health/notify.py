"""Placeholder until the alert engine lands: alerts are processed here."""
from __future__ import annotations


async def process_alerts(fleet, report, result, *, db, run_started, on_step) -> None:
    return None
