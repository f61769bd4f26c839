"""The port and label layout (fleetctl.core.layout) is the one place of those values: the
planner reads the same ones, and the kernel module imports nothing above the kernel."""

import subprocess
import sys

from fleetctl.core import layout
from fleetctl.plan import model as pm


def test_planner_reads_the_layout():
    for name in layout.__all__:
        if hasattr(pm, name):
            assert getattr(pm, name) is getattr(layout, name), name
    assert layout.balancer_name("eth") == "lb-eth"
    assert pm.BalancerPlacement.__dict__["name"] is not None


def test_layout_values_unchanged():
    assert (layout.PORT_STRIDE, layout.RPC_PORT_BASE, layout.AUTHRPC_PORT_BASE, layout.P2P_PORT_BASE,
            layout.METRICS_PORT_BASE) == (10, 8545, 8551, 30303, 6060)
    assert (layout.BEACON_PORT_BASE, layout.CL_METRICS_PORT_BASE, layout.CL_P2P_PORT_BASE) == (5052, 5054, 12000)
    assert (layout.BALANCER_PORT_BASE, layout.BALANCER_STATS_OFFSET) == (7600, 100)
    assert (layout.RELAYMINER_PORT, layout.RELAYMINER_METRICS_PORT, layout.RELAYMINER_PING_PORT) == (8500, 9090, 8081)
    assert layout.MORSE_RPC_PORT == 8081
    assert layout.LABEL_MANAGED == "io.fleetctl.managed" and layout.LABEL_SLOT == "io.fleetctl.slot"


def test_kernel_modules_import_nothing_above_the_kernel():
    code = ("import sys; import fleetctl.core.layout, fleetctl.core.units, fleetctl.core.images; "
            "print(sorted(m for m in sys.modules if m.startswith('fleetctl.') and not m.startswith('fleetctl.core')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
