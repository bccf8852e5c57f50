#!/usr/bin/python3
"""The layering rules of src/ and include/, checked from the #include lines.

Layers: proxy/ (the data plane), health/ (probes, verdicts, rotation), ops/ (incidents,
alerts, hooks, admin, status page, store), and the top level (startup, registry, config,
log, clock, bus). Rules:
  1. no proxy/ file includes a health/ or ops/ header, nor registry.h (the data plane
     reads the routing snapshot, proxy/route.h);
  2. no health/ file includes an ops/ header;
  3. rules 1 and 2 hold through chains of headers too: a proxy/ file that includes bus.h,
     which includes health/health.h, reaches a health/ header (the chain is reported at
     the first file of the layer that starts it, so a proxy/ header that reaches
     health/ is reported once, not again in every proxy/ file including it);
  4. only src/main.c and src/server.c include server.h (startup); the others read the
     registry (registry.h) or the routing snapshot (proxy/route.h);
  5. no include cycle between modules (a module is X.c with X.h; X.c or X.h including
     Y.h makes X depend on Y).
Prints every violation with the offending #include and exits 1; prints a summary and
exits 0 when the tree follows the rules. Usage: tests/layers.py [ROOT]"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
FORBIDDEN = {"proxy": ("health", "ops"), "health": ("ops",)}
NAMES = {"proxy": "the data plane (proxy/)", "health": "the health engine (health/)"}
# Single headers a layer must not include, with the reason printed.
FORBIDDEN_HEADERS = {
    "proxy": {"registry": "the data plane reads the routing snapshot proxy/route.h, "
                          "not the registry"},
}
# Headers that only the named files may include, with the reason printed.
ONLY = {
    "server": (("src/main.c", "src/server.c"),
               "only main.c and server.c may include server.h: read the registry "
               "(registry.h) or the routing snapshot (proxy/route.h)"),
}


def layer(module):
    head = module.split("/", 1)[0]
    return head if "/" in module else "top"


def scan(root):
    """{module: [(file, line, included module)]} for every file under src/ and include/,
    and {header module: [included modules]} for every header under include/."""
    deps, headers = {}, {}
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
                own = headers.setdefault(module, []) if ext == ".h" else []
                for m in INCLUDE.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    target = m.group(1)
                    if target.endswith(".h"):
                        edges.append((os.path.relpath(path, root), line, target[:-2]))
                        own.append(target[:-2])
    return deps, headers


def banned(module, target):
    """Why a file of module must not include target.h, or None."""
    own = layer(module)
    if layer(target) in FORBIDDEN.get(own, ()):
        return f"{NAMES[own]} must not include {layer(target)}/ headers"
    return FORBIDDEN_HEADERS.get(own, {}).get(target)


def layer_violations(deps):
    out = []
    for module, edges in sorted(deps.items()):
        for path, line, target in edges:
            why = banned(module, target)
            if why:
                out.append(f'{path}:{line}: #include "{target}.h": {why}')
    return out


def only_violations(deps):
    out = []
    for module, edges in sorted(deps.items()):
        for path, line, target in edges:
            if target in ONLY and path not in ONLY[target][0]:
                out.append(f'{path}:{line}: #include "{target}.h": {ONLY[target][1]}')
    return out


def reach_violations(deps, headers):
    """Rules 1 and 2 through chains of headers. From each allowed #include of a checked
    file, a breadth-first walk over the headers finds the shortest chain to each banned
    header; the walk stops at a banned header (the chain's end) and at a header of the
    file's own layer (that header is checked, and reported, on its own)."""
    out = []
    for module, edges in sorted(deps.items()):
        own = layer(module)
        if own not in FORBIDDEN and own not in FORBIDDEN_HEADERS:
            continue
        for path, line, first in edges:
            if banned(module, first) or first not in headers or layer(first) == own:
                continue
            chains, seen, todo = [], {first}, [[first]]
            while todo:
                chain = todo.pop(0)
                for nxt in headers[chain[-1]]:
                    if nxt in seen:
                        continue
                    seen.add(nxt)
                    if banned(module, nxt):
                        chains.append(chain + [nxt])
                    elif nxt in headers and layer(nxt) != own:
                        todo.append(chain + [nxt])
            for chain in sorted(chains, key=lambda c: c[-1]):
                hops = " -> ".join(f"{h}.h" for h in chain)
                out.append(f'{path}:{line}: #include "{first}.h" reaches {chain[-1]}.h ({hops})')
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
    deps, headers = scan(root)
    problems = (layer_violations(deps) + reach_violations(deps, headers) +
                only_violations(deps) + cycles(deps))
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
