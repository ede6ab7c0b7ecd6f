"""Import direction inside the edgecast package: no cycles, and the device-independent
modules (edgecast/*.py) never reach into the daemon; only the CLI, which registers the
daemon's commands, may."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edgecast"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The edgecast modules ``path`` imports (at any depth: function-level imports too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from . import x` imports the module x when there is one, else a name of the package
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # edgecast.daemon.config.Config -> edgecast.daemon.config
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def test_the_graph_is_read():
    g = graph()
    assert "edgecast.daemon.config" in g["edgecast.daemon.station"]
    assert "edgecast.daemon.readings" not in g  # moved below both its users
    assert "edgecast.readings" in g["edgecast.replay"]


def test_no_import_cycle_in_edgecast():
    g = graph()
    # A package imports nothing through its parent here: `import edgecast.daemon.x` runs
    # edgecast/__init__ and edgecast/daemon/__init__ first, but neither imports back.
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(g[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(g):
        if node not in state:
            visit(node)


def test_only_the_cli_reaches_into_the_daemon():
    g = graph()
    for name, targets in g.items():
        if name.startswith("edgecast.daemon") or name.split(".")[-1].startswith("cli"):
            continue
        into_daemon = sorted(t for t in targets if t == "edgecast.daemon" or t.startswith("edgecast.daemon."))
        assert not into_daemon, f"{name} imports {into_daemon}: move what both need below edgecast.daemon"


def test_the_daemon_package_map_names_every_module():
    """edgecast/daemon/__init__.py's docstring maps the package: each module (and adapters/)
    on a line of its own. Before, it left out admission, skill, correction and frost_alert."""
    import edgecast.daemon
    named = {line.split()[0].rstrip("/") for line in edgecast.daemon.__doc__.splitlines()
             if line.startswith("    ") and not line.startswith("     ")}
    modules = {p.stem for p in (PACKAGE / "daemon").glob("*.py") if p.stem != "__init__"} | {"adapters"}
    assert modules <= named, f"not in the map: {sorted(modules - named)}"


def test_the_daemons_start_does_not_parse_package_metadata():
    """`edgecast run` imports the CLI and the daemon and loads the bundle in LiteRT; the
    runtime's version comes from the package itself. Before, reading it through
    importlib.metadata pulled zipfile, csv and email parsing into every daemon (~0.4 MiB
    resident, BENCHMARKS.md "Against the import floor")."""
    import importlib.metadata
    import subprocess
    import sys
    code = ("import sys\nimport edgecast.cli, edgecast.daemon.service\n"
            "from edgecast.forecaster import load_forecaster\n"
            "print(load_forecaster(None, 'litert').identity['runtime'])\n"
            "print('importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.split()
    assert out[:2] == ["litert", importlib.metadata.version("ai-edge-litert")]
    assert out[2] == "False", "the daemon's start imported importlib.metadata"


def test_run_leaves_the_workstation_commands_and_statistics_unimported():
    """`edgecast run --check` resolves `run` through the CLI and builds the daemon as `run`
    does (the bundle loaded, its forecasts' band module imported). Before, the CLI imported
    export's and train's modules and band/ordering imported statistics (fractions, decimal):
    ~0.5 MB resident in every daemon (BENCHMARKS.md "Against the import floor")."""
    import subprocess
    import sys
    code = ("import sys\nfrom edgecast.cli import main\n"
            "main(['run', '--check'], standalone_mode=False)\n"
            "print(' '.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=PACKAGE.parent).stdout.splitlines()[-1].split())
    assert {"edgecast.daemon.service", "edgecast.band", "edgecast.daemon.ordering"} <= loaded
    unwanted = {"edgecast.cli_bundle", "edgecast.cli_train", "statistics", "fractions", "decimal"}
    assert not loaded & unwanted, f"`edgecast run` imported {sorted(loaded & unwanted)}"
