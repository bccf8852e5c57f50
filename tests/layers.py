#!/usr/bin/python3
"""The layering rules of src/ and include/, checked from the #include lines.

Layers: proxy/ (the data plane), health/ (probes, verdicts, rotation), ops/ (incidents,
alerts, hooks, admin, status page, store), and the top level (startup, registry, config,
log, clock, bus). Rules:
  1. no proxy/ file includes a health/ or ops/ header;
  2. no health/ file includes an ops/ header;
  3. no include cycle between modules (a module is X.c with X.h; X.c or X.h including
     Y.h makes X depend on Y).
Prints every violation with the offending #include and exits 1; prints a summary and
exits 0 when the tree follows the rules. Usage: tests/layers.py [ROOT]"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
FORBIDDEN = {"proxy": ("health", "ops"), "health": ("ops",)}
NAMES = {"proxy": "the data plane (proxy/)", "health": "the health engine (health/)"}


def layer(module):
    head = module.split("/", 1)[0]
    return head if "/" in module else "top"


def scan(root):
    """{module: [(file, line, included module)]} for every file under src/ and include/."""
    deps = {}
    for top, ext in (("src", ".c"), ("include", ".h")):
        base = os.path.join(root, top)
        for dirpath, _, files in os.walk(base):
            for name in sorted(files):
                if not name.endswith(ext):
                    continue
                path = os.path.join(dirpath, name)
                module = os.path.relpath(path, base)[: -len(ext)]
                text = open(path, encoding="utf-8").read()
                edges = deps.setdefault(module, [])
                for m in INCLUDE.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    target = m.group(1)
                    if target.endswith(".h"):
                        edges.append((os.path.relpath(path, root), line, target[:-2]))
    return deps


def layer_violations(deps):
    out = []
    for module, edges in sorted(deps.items()):
        banned = FORBIDDEN.get(layer(module), ())
        for path, line, target in edges:
            if layer(target) in banned:
                out.append(f'{path}:{line}: #include "{target}.h": {NAMES[layer(module)]} '
                           f"must not include {layer(target)}/ headers")
    return out


def cycles(deps):
    """Strongly connected components with more than one module (Tarjan), as edge lists."""
    graph = {m: sorted({t for _, _, t in e if t in deps and t != m}) for m, e in deps.items()}
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in comps:
        inside = set(comp)
        out.append("include cycle between " + ", ".join(comp) + ":")
        for m in comp:
            for path, line, target in deps[m]:
                if target in inside and target != m:
                    out.append(f'  {path}:{line}: #include "{target}.h"')
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    deps = scan(root)
    problems = layer_violations(deps) + cycles(deps)
    for p in problems:
        print(p)
    if problems:
        print(f"layers: {len(problems)} problem line(s); the rules are at the top of {__file__}")
        return 1
    counts = {}
    for m in deps:
        counts[layer(m)] = counts.get(layer(m), 0) + 1
    print("layers: OK (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + " modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
