"""The layout shows the request path and keeps it one path: no import cycles, layers that only import
downwards, the public surface of DESIGN.md, and no second place that spells what core/ owns."""
import ast
import pathlib
import re

import cerebras_magic as cm

PKG = pathlib.Path(cm.__file__).resolve().parent
# who may import whom (the package's own modules), layer by layer; testing/ is a user of the API, like a test
SHARED = {"_errors", "_wire", "_lazy"}  # the package's own bottom modules, which import nothing of it
LAYERS = {
    "notebook": {"core", "display", "api", *SHARED},
    "core": {"api", "display", *SHARED},
    "api": {"local", *SHARED},
    "local": SHARED,
    "display": SHARED,
    "testing": {"api", *SHARED},
    "ray": {"core", "api", "display", *SHARED},  # cerebras_magic.ray: the batch engine inside Ray Data's map_batches
}


def _modules():
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        yield ".".join(["cerebras_magic", *parts]), path, rel.name == "__init__"


def _imports(name: str, path: pathlib.Path, is_pkg: bool) -> set:
    """Every cerebras_magic module this file imports, at the top or inside a function."""
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
            if mod and mod.startswith("cerebras_magic"):
                for alias in node.names:  # `from . import _wire` imports a module
                    sub = f"{mod}.{alias.name}"
                    found.add(sub if (PKG.parent / (sub.replace(".", "/") + ".py")).exists()
                              or (PKG.parent / sub.replace(".", "/")).is_dir() else mod)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cerebras_magic")}
    return found - {name}


GRAPH = {name: _imports(name, path, is_pkg) for name, path, is_pkg in _modules()}


def test_no_module_imports_one_that_imports_it_back():
    """No import cycle of any length between modules (function-level imports included)."""
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt not in GRAPH:
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_layers_import_only_downwards():
    wrong = []
    for module, imported in GRAPH.items():
        layer = _layer(module)
        if layer not in LAYERS:
            continue
        for other in imported:
            target = _layer(other)
            if target and target != layer and target not in LAYERS[layer]:
                wrong.append(f"{module} -> {other}")
    assert wrong == []


def test_private_modules_behind_public_packages():
    """Inside each layer every module but __init__ is private; the layers are what `ls` shows."""
    public = {p.name for p in PKG.iterdir() if not p.name.startswith(("_", ".")) and p.name != "py.typed"}
    assert public == {"api", "core", "display", "local", "notebook", "testing", "ray.py"}
    for layer in ("api", "core", "display", "local", "notebook"):
        names = {p.stem for p in (PKG / layer).glob("*.py")}
        assert all(n.startswith("_") for n in names), (layer, names)


def test_public_surface_of_the_design():
    for name in ("chat", "complete", "history", "configure", "replay", "logprobs_frame", "Result", "Client",
                 "AsyncClient", "Playground", "Session", "Ask", "ParameterError", "RateLimitError", "batch", "BatchRun"):
        assert name in cm.__all__ and getattr(cm, name) is not None


def _grep(pattern: str) -> set:
    rx = re.compile(pattern)
    return {str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if rx.search(p.read_text())}


def test_one_place_maps_parameters_and_builds_conversations():
    """The per-endpoint token limit names, the system prompt's place in a conversation and a schema's
    response_format are spelled in core/ only (plus the wire layers that must know the API's names:
    the request models, the local backend's reader and the fake server)."""
    wire_side = {"api/_types.py", "_wire.py", "local/_sampling.py", "testing/respond.py", "testing/api.py"}
    # (reading a catalogue's `limits.get("max_completion_tokens")` is not mapping a parameter)
    assert _grep(r'(?<!\.get\()"max_completion_tokens"') <= {"core/_params.py", *wire_side}
    assert _grep(r'"role": "system", "content"') <= {"core/_ask.py"}
    assert _grep(r'"json_schema", "json_schema"') <= {"core/_ask.py"}
    assert _grep(r'"logprobs": True, "top_logprobs"') <= {"core/_ask.py"}
    assert _grep(r'ESCAPES = ') <= {"core/_params.py"}
