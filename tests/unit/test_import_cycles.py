"""No import circle anywhere in fleetctl (issue 13): the layers contract of import-linter
(pyproject, run by scripts/test.sh) forbids upward imports between packages; this checks the
modules inside a package too, on the installed package's source, as grimp builds the graph."""

from __future__ import annotations

import grimp


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("fleetctl")
    circles = sorted(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    )
    assert circles == [], f"import circles: {circles[:10]}"


def test_the_check_sees_a_circle() -> None:
    """The check above can fail: a circle added to a copy of the graph is found."""
    graph = grimp.build_graph("fleetctl")
    graph.add_import(importer="fleetctl.core.errors", imported="fleetctl.cli")
    assert graph.chain_exists(importer="fleetctl.cli", imported="fleetctl.core.errors")
    assert any(graph.chain_exists(importer=i, imported="fleetctl.core.errors")
               for i in graph.find_modules_directly_imported_by("fleetctl.core.errors"))
