"""A health sweep's result: its checks, overall status, and every output format.

Every front renders this object: the table (views.py), ``-o json``, the Nagios line with
perfdata, the Prometheus text for a textfile collector (written atomically) and the exporter's
``/metrics`` (one collector serves both, so they never disagree).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.core.levels import Level, worst

__all__ = ["KINDS", "Check", "HealthReport", "Sample", "metric_families", "write_textfile"]

#: Check kinds, in the order the table lists them.
KINDS = ("chain", "execution", "consensus", "balancer", "relayminer", "pocket_node", "stake", "claims", "host", "state",
         "alerting", "remediation")
#: Perfdata longer than this is cut to fleet aggregates (Nagios keeps ~4 KB of output).
PERFDATA_BUDGET = 3500


@record(frozen=True)
class Sample:
    """One numeric fact of a check, exported as ``fleetctl_<kind>_<name>`` with the check's
    target and labels; a name that starts with ``fleetctl_`` is exported as it is, with only its
    own labels (the names fixed for the monitoring kit, e.g. ``fleetctl_claims_slashes{supplier}``)."""

    name: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@record(frozen=True)
class Check:
    target: str  # the name from the inventory: endpoint, supplier address, host, host/balancer
    kind: str
    level: Level
    message: str
    facts: dict[str, Any] = field(default_factory=dict)
    samples: tuple[Sample, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)  # chain, client, host (alert labels)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.target}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "kind": self.kind, "status": self.level.name,
                               "message": self.message}
        facts = self.facts
        if "target" in facts or "kind" in facts or "status" in facts or "message" in facts:
            for k, v in facts.items():
                out.setdefault(k, v)  # the check's own four come first and stay
        else:
            out.update(facts)  # (the usual case, in C: 2,200 checks a run)
        out["values"] = {s.name if not s.labels else f"{s.name}{{{','.join(f'{k}={v}' for k, v in s.labels)}}}": s.value
                         for s in self.samples}
        return out


def samples(values: dict[str, float], labels: tuple[tuple[str, str], ...] = ()) -> tuple[Sample, ...]:
    return tuple(Sample(k, float(v), labels) for k, v in values.items())


@record
class HealthReport:
    checked_at: str
    duration_s: float
    checks: list[Check]
    #: why the sweep itself could not run (exit 3), else None
    error: str | None = None
    alerts: dict[str, Any] = field(default_factory=dict)
    remediation: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> Level:
        if self.error is not None:
            return Level.UNKNOWN
        return worst(c.level for c in self.checks)

    @property
    def exit_code(self) -> int:
        return int(self.status)

    def counts(self) -> dict[str, int]:
        counts = {level.name.lower(): 0 for level in Level}
        for c in self.checks:
            counts[c.level.name.lower()] += 1
        return counts

    def ordered(self) -> list[Check]:
        """Worst first, then by kind and target."""
        rank = {k: i for i, k in enumerate(KINDS)}
        return sorted(self.checks, key=lambda c: (-c.level.severity, rank.get(c.kind, 99), c.target))

    def summary(self) -> str:
        if self.error is not None:
            return self.error
        counts = self.counts()
        text = f"{counts['critical']} critical, {counts['warning']} warning"
        if counts["unknown"]:
            text += f", {counts['unknown']} unknown"
        text += f" of {len(self.checks)} checks"
        bad = [c for c in self.ordered() if c.level is not Level.OK]
        if bad:
            text += f"; {bad[0].kind} {bad[0].target}: {bad[0].message}"
            if len(bad) > 1:
                text += f" (+{len(bad) - 1} more)"
        return text

    def perfdata(self) -> str:
        counts = self.counts()
        parts = [f"checks={len(self.checks)}"] + [f"{k}={v}" for k, v in counts.items()]
        parts.append(f"duration={self.duration_s:.3f}s")
        lags = [s.value for c in self.checks if c.kind == "execution" for s in c.samples if s.name == "lag_blocks"]
        if lags:
            parts.append(f"max_lag_blocks={int(max(lags))}")
        diverged = sum(1 for c in self.checks if c.kind == "execution" and c.facts.get("state") == "diverged")
        parts.append(f"diverged={diverged}")
        beacons = [c for c in self.checks if c.kind == "consensus"]
        if beacons:
            for name, level in (("ok", Level.OK), ("warn", Level.WARNING), ("crit", Level.CRITICAL)):
                parts.append(f"consensus_{name}={sum(1 for c in beacons if c.level is level)}")
            slot_lags = [s.value for c in beacons for s in c.samples if s.name == "slot_lag"]
            if slot_lags:
                parts.append(f"max_slot_lag={int(max(slot_lags))}")
            parts.append(f"consensus_diverged={sum(1 for c in beacons if 'diverged' in str(c.facts.get('state')))}")
        free = [s.value for c in self.checks if c.kind == "host" for s in c.samples if s.name == "disk_free_ratio"]
        if free:
            parts.append(f"min_disk_free={100 * min(free):.1f}%")
        margins = [c.facts.get("margin_upokt") for c in self.checks if c.kind == "stake"]
        known = [m for m in margins if isinstance(m, int)]
        if known:
            parts.append(f"min_stake_margin_upokt={min(known)}")
        text = " ".join(parts)
        return text[:PERFDATA_BUDGET]

    def nagios_line(self) -> str:
        text = self.summary().replace("|", "/").replace("\n", " ")
        return f"HEALTH {self.status.name} - {text} | {self.perfdata()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.name,
            "checked_at": self.checked_at,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "counts": self.counts(),
            "checks": [c.as_dict() for c in self.ordered()],
            "alerts": self.alerts,
            "remediation": self.remediation,
            "notes": self.notes,
        }


# ----------------------------------------------------------------------------- Prometheus

_HELP = {
    "execution_up": "1 if the execution endpoint answered its JSON-RPC batch",
    "execution_head_block": "Latest block the endpoint reports (eth_blockNumber)",
    "execution_lag_blocks": "Blocks behind its chain's majority head",
    "execution_syncing": "1 while eth_syncing reports a sync in progress",
    "execution_diverged": "1 if its block hash at the compared height differs from its chain's majority",
    "execution_peers": "net_peerCount (absent when the client does not say)",
    "execution_response_seconds": "Time to answer the check's JSON-RPC batch",
    "balancer_up": "1 if the balancer's stats page answered",
    "balancer_backends_total": "Servers in the balancer's pool",
    "balancer_backends_up": "Servers up in the pool",
    "balancer_backends_down": "Servers down in the pool",
    "balancer_backends_maint": "Servers in maintenance (taken out of rotation)",
    "relayminer_up": "1 if the RelayMiner's metrics endpoint answered",
    "relayminer_relays_total": "Relays the RelayMiner reports having served",
    "relayminer_relay_errors_total": "Relay errors the RelayMiner reports",
    "pocket_node_up": "1 if the Pocket node answered",
    "pocket_node_height": "The Pocket node's latest height",
    "pocket_node_lag_blocks": "Blocks the Pocket node is behind the network",
    "stake_upokt": "Supplier (node) stake in upokt",
    "stake_margin_upokt": "Stake above the minimum, in upokt",
    "stake_operator_balance_upokt": "Operator account balance in upokt",
    "stake_penalties_to_minimum": "Penalties the stake absorbs before falling below the minimum",
    "host_up": "1 if the host's facts could be read over SSH",
    "host_disk_free_ratio": "Free share of a filesystem holding fleet data",
    "host_disk_free_bytes": "Free bytes of a filesystem holding fleet data",
    "host_memory_available_ratio": "MemAvailable / MemTotal",
    "host_load5_per_cpu": "5-minute load average per CPU",
    "host_containers_stopped": "fleetctl-managed containers that are not running",
    "consensus_up": "1 if the consensus client answered /eth/v1/node/health with 200 or 206",
    "consensus_head_slot": "The consensus client's head slot (/eth/v1/beacon/headers/head)",
    "consensus_slot_lag": "Slots behind its chain's majority head slot",
    "consensus_syncing": "1 while /eth/v1/node/syncing says is_syncing",
    "consensus_optimistic": "1 while /eth/v1/node/syncing says is_optimistic",
    "consensus_el_offline": "1 while /eth/v1/node/syncing says el_offline",
    "consensus_finalized_epoch": "Its finalized checkpoint's epoch",
    "consensus_diverged": "1 if its finalized checkpoint differs from its chain's majority",
    "consensus_peers": "Connected peers (/eth/v1/node/peer_count)",
    "consensus_response_seconds": "Time to answer the slowest of the check's Beacon API requests",
    "chain_consensus_up": "Consensus clients of the chain that answered",
    "chain_reference_slot": "The head slot a majority of the chain's consensus clients reached",
    "chain_finalized_epoch": "The finalized epoch a majority of the chain's consensus clients reached",
    "chain_reference_head": "The block a majority of the chain's endpoints reached",
    "chain_endpoints_up": "Endpoints of the chain that answered",
    "relayminer_block_height": "The block height the RelayMiner sees (relayminer_block_height_current)",
    "relayminer_error_ratio": "Share of the RelayMiner's relays that failed since the previous run",
    "relayminer_dropped_ratio": "Share of the RelayMiner's relays served but dropped, never claimed, since the previous run",
    "relayminer_relays_dropped_total": "Relays the RelayMiner served but dropped from its mining pipeline",
    "relayminer_ping_up": "1 if the RelayMiner's ping server answered 2xx (every backend reachable)",
    "fleetctl_claims_claimed_upokt": "upokt the supplier claimed for the service in the last 24 h",
    "fleetctl_claims_settled_upokt": "upokt settled (paid) for the supplier and service in the last 24 h",
    "fleetctl_claims_lost_upokt": "upokt of the supplier's claims lost in the last 24 h, by reason",
    "fleetctl_claims_slashes": "Times the supplier was slashed in the last 24 h",
    "fleetctl_claims_proofs_at_risk": "Claims whose proof is required and not yet submitted",
    "fleetctl_claims_relays": "Relays the supplier claimed for the service in the last 24 h",
    "fleetctl_claims_last_height": "The last block whose events fleetctl read",
    "fleetctl_stakes_missed_proofs_to_unstake": "(stake - min_stake) / proof_missing_penalty: missed proofs until auto-unstake",
    "fleetctl_stakes_fee_runway_days": "Days the operator's balance pays its claim and proof fees for",
}


def metric_families(report: HealthReport) -> Iterator[Any]:
    """prometheus_client metric families for ``report`` (imports prometheus_client)."""
    from prometheus_client.core import GaugeMetricFamily

    status = GaugeMetricFamily("fleetctl_health_status", "Worst check status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)")
    status.add_metric([], float(report.exit_code))
    yield status
    duration = GaugeMetricFamily("fleetctl_health_duration_seconds", "Wall time of the last health sweep")
    duration.add_metric([], report.duration_s)
    yield duration
    counts = GaugeMetricFamily("fleetctl_health_checks", "Checks by status in the last sweep", labels=["status"])
    for name, n in report.counts().items():
        counts.add_metric([name.upper()], float(n))
    yield counts
    check = GaugeMetricFamily("fleetctl_check_status", "Status of one check (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
                              labels=["kind", "target"])
    for c in report.checks:
        check.add_metric([c.kind, c.target], float(int(c.level)))
    yield check
    # One family per value name; its label names are the union over the checks that carry it
    # (an adopted endpoint has no host label, a provisioned node has one: neither loses it).
    rows: dict[str, list[tuple[dict[str, str], float]]] = {}
    for c in report.checks:
        base: dict[str, str] = {"target": c.target, **{k: c.labels[k] for k in ("chain", "client", "host", "name") if k in c.labels}}
        for s in c.samples:
            if s.name.startswith("fleetctl_"):
                rows.setdefault(s.name, []).append((dict(s.labels), s.value))
            else:
                rows.setdefault(f"fleetctl_{c.kind}_{s.name}", []).append(({**base, **dict(s.labels)}, s.value))
    for full in sorted(rows):
        name = full.removeprefix("fleetctl_")
        named = {k for labels, _ in rows[full] for k in labels}
        keys = (["target"] if "target" in named else []) + sorted(named - {"target"})
        fam = GaugeMetricFamily(full, _HELP.get(name, _HELP.get(full, name.replace("_", " "))), labels=keys)
        for labels, value in rows[full]:
            fam.add_metric([labels.get(k, "") for k in keys], value)
        yield fam


class ReportCollector:
    """A prometheus_client collector over the latest report (the exporter swaps it)."""

    def __init__(self, report: HealthReport | None = None) -> None:
        self.report = report

    def collect(self) -> Iterable[Any]:
        if self.report is None:
            return iter(())
        return metric_families(self.report)


def exposition(report: HealthReport) -> bytes:
    """The Prometheus text format of ``report``."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(report))
    return generate_latest(registry)


def write_textfile(path: str | os.PathLike[str], report: HealthReport) -> None:
    """Write the metrics for node_exporter's textfile collector atomically (temp file + rename in
    the same folder), so the collector never reads half a file."""
    from fleetctl.core.atomic import write_atomic

    write_atomic(Path(path), exposition(report), mode=0o644, fsync=True)


def by_kind(checks: Sequence[Check]) -> dict[str, list[Check]]:
    out: dict[str, list[Check]] = {}
    for c in checks:
        out.setdefault(c.kind, []).append(c)
    return out
