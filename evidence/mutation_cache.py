"""The mutation results cache, committed as evidence/mutation_cache.json.

A clean CI clone has no other state, so the verdicts live in the repository. A verdict is
reused only while everything it depends on is unchanged; the key is, per mutant:

- the mutated function's own source (AST without docstrings: mutmut derives the same
  mutants, numbered the same, from the same function);
- the declarations (the module with its functions removed: constants, imports, dataclass
  fields and their defaults) of the function's own module and of every core/ module it
  imports, directly or through others (`module_closure`): a field added to one module
  re-runs the functions that can read it, not all of core/;
- the toolchain: Python (major.minor), mutmut, pytest, Hypothesis, transitions and libcst
  versions (all pinned in constraints.txt), and
  the staged runner (evidence/mutation_plugin.py, mutation_select.py, the pytest options);
- the tests: a killed verdict keeps the test that killed it, keyed on that test file and
  everything it imports from tests/support, hal/ and shell/ (and tests/conftest.py, which
  holds the Hypothesis profile); any other verdict (survived, no tests, timeout) keys on
  every test file its function's selection ran, and is re-run when that selection changes.

Not in the key: mutmut's CPU-time limit (evidence/mutation.py TIMEOUT). A timeout counts
as killed, so a verdict reached under a longer limit stays sound under a shorter one; after
raising the limit, run with --no-cache.

Not in the key either: the bodies of the *other* core/ functions the tests pass through on the way
to the mutant. A change there can, in principle, hide or reveal a mutant of an unchanged
function; `evidence/mutation.py --no-cache` re-runs everything (the release evidence), and
the report says how many verdicts came from the cache.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

VERSION = 2
TOOLS = ("mutmut", "pytest", "hypothesis", "transitions", "libcst")


def _h(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def function_hashes(module: str, source: str) -> dict[str, str]:
    """mutmut's mangled name (`pkg.mod.x_f`, `pkg.mod.xǁClassǁm`) -> hash of the function's
    AST without its docstring."""
    out: dict[str, str] = {}

    def visit(body: list[ast.stmt], cls: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"xǁ{cls}ǁ{node.name}" if cls else f"x_{node.name}"
                copy = ast.parse(ast.unparse(node)).body[0]
                copy.body = _strip_docstring(copy.body) or [ast.Pass()]  # type: ignore[attr-defined]
                out[f"{module}.{name}"] = _h(ast.dump(copy, annotate_fields=False))
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{cls}.{node.name}" if cls else node.name)

    visit(ast.parse(source).body, "")
    return out


def declarations_hash(sources: dict[str, str]) -> str:
    """Hash of every module with its function definitions and docstrings removed."""

    class Strip(ast.NodeTransformer):
        def visit_FunctionDef(self, node: ast.AST) -> None:
            return None

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
            self.generic_visit(node)
            node.body = _strip_docstring(node.body) or [ast.Pass()]
            return node

    parts = []
    for name in sorted(sources):
        tree = Strip().visit(ast.parse(sources[name]))
        tree.body = _strip_docstring(tree.body)
        parts.append(name + ":" + ast.dump(tree, annotate_fields=False))
    return _h(*parts)


def module_declarations(sources: dict[str, str]) -> dict[str, str]:
    """Per module file name: the hash of its declarations (declarations_hash of it alone)."""
    return {name: declarations_hash({name: src}) for name, src in sources.items()}


def module_closure(sources: dict[str, str]) -> dict[str, list[str]]:
    """Per module file name: itself and every module of `sources` it imports relatively
    (`from .x import`, `from . import x`), transitively, sorted."""
    direct: dict[str, set[str]] = {}
    for name, src in sources.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0] + ".py")
                else:
                    deps.update(f"{a.name}.py" for a in node.names)
        direct[name] = {d for d in deps if d in sources}
    out: dict[str, list[str]] = {}
    for name in sources:
        seen, todo = {name}, [name]
        while todo:
            for dep in direct[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        out[name] = sorted(seen)
    return out


def keyed_functions(sources: dict[str, str], hashes: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Function -> its key: `hashes` maps a function to (its module's file name, the hash of
    its own source); the key adds the declarations of the module's closure."""
    decl = module_declarations(sources)
    closure = module_closure(sources)
    return {fn: _h(h, *(f"{m}:{decl[m]}" for m in closure[mod])) for fn, (mod, h) in hashes.items()}


def toolchain_hash(root: Path, extra: str) -> str:
    versions = [f"python={sys.version_info.major}.{sys.version_info.minor}"]
    for tool in TOOLS:
        try:
            versions.append(f"{tool}={metadata.version(tool)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{tool}=none")
    runner = [(root / "evidence" / n).read_text("utf-8")
              for n in ("mutation_plugin.py", "mutation_select.py")]
    return _h(*versions, *runner, extra)


class TestFiles:
    """Hash of a test file together with the local code it imports (tests/support, hal/,
    shell/, tests/conftest.py), resolved transitively."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._memo: dict[str, str] = {}

    def _local(self, name: str, importer: Path) -> list[Path]:
        root = self.root
        parts = name.split(".")
        found = []
        if parts[0] == "iontocore" and len(parts) >= 2 and parts[1] in ("hal", "shell"):
            base = root / parts[1]
            rest = parts[2:]
            path = base.joinpath(*rest).with_suffix(".py") if rest else base / "__init__.py"
            found.append(path)
        elif (root / "tests" / "support" / f"{parts[0]}.py").exists():
            found.append(root / "tests" / "support" / f"{parts[0]}.py")
        return [p for p in found if p.is_file()]

    def _deps(self, path: Path) -> list[Path]:
        tree = ast.parse(path.read_text("utf-8"))
        out: list[Path] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    out += self._local(alias.name, path)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative, inside hal/ or shell/
                    base = path.parent
                    mod = node.module or ""
                    cand = [base / (mod.replace(".", "/") + ".py")] if mod else []
                    cand += [base / f"{a.name}.py" for a in node.names]
                    out += [p for p in cand if p.is_file() and base.name in ("hal", "shell")]
                elif node.module:
                    out += self._local(node.module, path)
                    out += [p for a in node.names for p in self._local(f"{node.module}.{a.name}", path)]
        return out

    def hash(self, test_file: str) -> str:
        """Hash of `test_file` (relative to the root) and its local imports; "" if missing."""
        if test_file not in self._memo:
            start = self.root / test_file
            if not start.is_file():
                self._memo[test_file] = ""
                return ""
            seen: dict[Path, None] = {start: None, self.root / "tests" / "conftest.py": None}
            todo = [start]
            while todo:
                for dep in self._deps(todo.pop()):
                    if dep not in seen:
                        seen[dep] = None
                        todo.append(dep)
            parts = [f"{p.relative_to(self.root)}:{p.read_text('utf-8')}" for p in sorted(seen)
                     if p.is_file()]
            self._memo[test_file] = _h(*parts)
        return self._memo[test_file]


def test_file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {"version": VERSION, "toolchain": "", "declarations": "", "functions": {}}
    if data.get("version") != VERSION:
        return {"version": VERSION, "toolchain": "", "declarations": "", "functions": {}}
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    data["functions"] = dict(sorted(data["functions"].items()))
    path.write_text(json.dumps(data, indent=0, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")


def usable(cache: dict[str, Any], toolchain: str) -> dict[str, Any]:
    """The cached functions, or none when the toolchain changed (the declarations are in
    each function's own key)."""
    if cache.get("toolchain") != toolchain:
        return {}
    functions: dict[str, Any] = cache.get("functions", {})
    return functions


def stale(entry: dict[str, Any] | None, source: str, files: TestFiles,
          selection: dict[str, str] | None) -> tuple[bool, list[int]]:
    """Which verdicts of one function must be re-run: (all of them, or these indices).

    `selection` is the function's current test selection (file -> hash), or None when it is
    not known (no stats this run): non-killed verdicts then count as current only if every
    file they ran against is unchanged."""
    if entry is None or entry.get("source") != source:
        return True, []
    rerun = []
    for nodeid, indices in entry.get("killed", {}).items():
        f = test_file(nodeid)
        if entry["killer_files"].get(f) != files.hash(f) or not files.hash(f):
            rerun += indices
    recorded = entry.get("selection", {})
    if selection is None:
        changed = any(files.hash(f) != h for f, h in recorded.items())
    else:
        changed = selection != recorded
    if changed:
        rerun += [int(i) for i in entry.get("other", {})]
    return False, sorted(rerun)
