"""The package's layering (docs/architecture.md), read from the source with `ast`: no import
reaches up a layer, io/ has no import cycle, and a stage uses another stage only through its
entry points (run_*, *Config, a per-clip *_clip), never as a helper library."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "finephys_cli"
# Lower number = higher layer; a module may import its own layer or any lower one.
LAYERS = {"app": 0, "__main__": 0, "commands": 1, "stages": 2, "generation": 3, "metrics": 3,
          "data": 4, "models": 4, "io": 5, "configs": 6, "console": 6, "skeleton": 6,
          "errors": 6, "__init__": 7}
SHARED_STAGE_MODULES = {"stages.training"}    # run folders and accelerate state for train-*


def _imports(root: Path = ROOT):
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).with_suffix("")
        module, package = ".".join(rel.parts), list(rel.parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [a.name for a in node.names]
                if not target:                      # from . import x (package root)
                    for name in names:
                        yield module, name, []
                else:
                    yield module, target, names


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def test_no_import_reaches_up_a_layer():
    up = [f"{src} -> {dst}" for src, dst, _ in _imports()
          if dst.split(".")[0] in LAYERS and _layer(dst) < _layer(src)]
    assert not up


def test_stages_use_other_stages_only_through_entry_points():
    def entry(name: str) -> bool:
        return name.startswith("run_") or name.endswith("Config") or name.endswith("_clip")

    def room(module: str) -> str:          # a stage package (stages/score/) is one room
        return ".".join(module.split(".")[:2])

    helpers = [f"{src} -> {dst}: {bad}" for src, dst, names in _imports()
               if src.startswith("stages.") and dst.startswith("stages.")
               and room(dst) != room(src) and dst not in SHARED_STAGE_MODULES
               and (bad := [n for n in names if not entry(n)])]
    assert not helpers


def test_io_has_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for src, dst, _ in _imports():
        if src.startswith("io.") and dst.startswith("io."):
            graph.setdefault(src, set()).add(dst)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n}))
                   for n in graph.get(start, ()))

    assert not [m for m in graph if reaches(m, m, set())]


def test_the_checker_sees_a_violation(tmp_path):
    """The rules are live: an upward import planted in a copy is caught."""
    import shutil

    copy = tmp_path / "finephys_cli"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    (copy / "io" / "planted.py").write_text("from ..stages.generate import run_generate\n")
    ups = [(s, d) for s, d, _ in _imports(copy) if d.split(".")[0] in LAYERS and _layer(d) < _layer(s)]
    assert ups == [("io.planted", "stages.generate")]
