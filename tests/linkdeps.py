#!/usr/bin/python3
"""Prints the module lists of the Makefile (UNIT_test_X, SIM_nodesim, FUZZ_fuzz_X): for
each test program, the src/ modules that define a symbol it uses, and the ones those
use in turn. It reads the objects of a build (`make BUILD=DIR all` first) with nm and
compiles each test source once, into DIR/linkdeps/. A list it prints is the least the
linker needs; the Makefile's lists should read the same.
Usage: tests/linkdeps.py [BUILD] (default: build)"""
import os
import subprocess
import sys

PROGRAMS = (("UNIT_", "tests/unit", "test_"), ("SIM_", "tests/sim", "nodesim"),
            ("FUZZ_", "tests/fuzz", "fuzz_"))
DEFINED = set("TDBRCVW")


def symbols(obj):
    """(defined, undefined) external symbols of an object file."""
    defined, undefined = set(), set()
    for line in subprocess.run(["nm", obj], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "U":
            undefined.add(f[1])
        elif len(f) == 3 and f[1] in DEFINED:
            defined.add(f[2])
    return defined, undefined


def module_objects(build):
    """{module: (defined, undefined)} for every object of src/ but main."""
    base = os.path.join(build, "obj")
    out = {}
    for dirpath, _, files in os.walk(base):
        for name in files:
            module = os.path.relpath(os.path.join(dirpath, name), base)[:-2]
            if name.endswith(".o") and module != "main":
                out[module] = symbols(os.path.join(dirpath, name))
    return out


def needed(undefined, modules):
    """The modules that resolve undefined, closed over what they use themselves."""
    owner = {s: m for m, (defs, _) in sorted(modules.items()) for s in defs}
    need, todo = set(), list(undefined)
    while todo:
        m = owner.get(todo.pop())
        if m and m not in need:
            need.add(m)
            todo.extend(modules[m][1])
    return sorted(need)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    modules = module_objects(build)
    if not modules:
        sys.exit(f"linkdeps: no objects in {build}/obj: run make BUILD={build} all first")
    cflags = subprocess.run(["pkg-config", "--cflags", "libevent", "openssl", "libcurl",
                             "jansson", "sqlite3"], capture_output=True, text=True,
                            check=True).stdout.split()
    tmp = os.path.join(build, "linkdeps")
    os.makedirs(tmp, exist_ok=True)
    for prefix, folder, start in PROGRAMS:
        for name in sorted(os.listdir(folder)):
            if not (name.startswith(start) and name.endswith(".c")):
                continue
            obj = os.path.join(tmp, name[:-2] + ".o")
            subprocess.run(["cc", "-std=gnu11", "-D_GNU_SOURCE", "-Iinclude", *cflags, "-c",
                            "-o", obj, os.path.join(folder, name)], check=True)
            print(f"{prefix}{name[:-2]} := " + " ".join(needed(symbols(obj)[1], modules)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
