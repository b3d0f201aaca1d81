#!/usr/bin/env python3
"""Checks a .deb built by scripts/package.sh against what `cargo pgrx package` staged.

    package_check.py DEB STAGE [--released VERSION ...]

DEB is the package, STAGE the tree cargo pgrx package installed into (<target>/release/ntsb_perf-pg<major>),
--released the versions released before, each of which needs a chain of upgrade scripts in the
package up to the current version. Every failed check prints a line `FAIL: ...`; the exit status
is 1 if any failed. Python stdlib and dpkg-deb, dpkg, apt-cache, objdump only.
"""

import argparse
import gzip
import hashlib
import io
import math
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXT = "ntsb_perf"
PG_MAJOR = os.environ.get("PG_MAJOR", "15")
PKG = f"postgresql-{PG_MAJOR}-ntsb-perf"
# README.md and every page of docs/, each gzipped as Debian ships documentation.
DOC_PAGES = ["README.md"] + sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))
DOC_FILES = {"copyright", "changelog.Debian.gz"} | {f"{p}.gz" for p in DOC_PAGES}
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def run(*cmd, check=True, data=None):
    return subprocess.run(cmd, check=check, capture_output=True, input=data).stdout


def pg_config(opt):
    return run(f"/usr/lib/postgresql/{PG_MAJOR}/bin/pg_config", opt).decode().strip()


def parse_control(text):
    fields, key = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def parse_relations(value):
    """'a, b (>= 1), c | d' -> {name: [constraint or None]} (alternatives are refused)."""
    rels = {}
    for item in filter(None, (p.strip() for p in value.split(","))):
        if "|" in item:
            fail(f"unexpected alternative in relation {item!r}")
        m = re.fullmatch(r"([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9]+)?\s*(?:\((<<|<=|=|>=|>>)\s*([^)\s]+)\))?", item)
        if not m:
            fail(f"unparsable relation {item!r}")
            continue
        rels.setdefault(m[1], []).append((m[2], m[3]) if m[2] else None)
    return rels


def version_ge(a, b):
    return subprocess.run(["dpkg", "--compare-versions", a, "ge", b]).returncode == 0


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def filtered(text, version):
    """What cargo pgrx's copy_file writes for a filtered file (control file, upgrade scripts)."""
    if "@GIT_HASH@" in text:
        fail("a filtered file uses @GIT_HASH@, which this check does not reproduce")
    return text.replace("@CARGO_VERSION@", version)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("deb", type=Path)
    ap.add_argument("stage", type=Path)
    ap.add_argument("--released", nargs="*", default=[])
    args = ap.parse_args()

    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    arch = run("dpkg", "--print-architecture").decode().strip()
    pkglibdir = pg_config("--pkglibdir")
    extdir = pg_config("--sharedir") + "/extension"

    # --- control fields ---------------------------------------------------------------------
    ctl = parse_control(run("dpkg-deb", "--field", str(args.deb)).decode())
    want = {"Package": PKG, "Architecture": arch, "Section": "database", "Priority": "optional"}
    for k, v in want.items():
        if ctl.get(k) != v:
            fail(f"control field {k} is {ctl.get(k)!r}, expected {v!r}")
    m = re.fullmatch(re.escape(version) + r"-([1-9][0-9]*)", ctl.get("Version", ""))
    if not m:
        fail(f"Version {ctl.get('Version')!r} is not <Cargo.toml version {version}>-<Debian revision>")
    expected_name = f"{PKG}_{ctl.get('Version')}_{arch}.deb"
    if args.deb.name != expected_name:
        fail(f"file name {args.deb.name} is not {expected_name}")
    if not re.fullmatch(r"[^<>]+ <[^<>@\s]+@[^<>@\s]+>", ctl.get("Maintainer", "")):
        fail(f"Maintainer {ctl.get('Maintainer')!r} is not 'Name <email>'")
    desc = ctl.get("Description", "").split("\n")
    if not desc[0] or len(desc[0]) > 80 or len(desc) < 2:
        fail("Description needs a synopsis of at most 80 characters and a long description")
    for k in ("Homepage", "Essential", "Pre-Depends", "Conflicts", "Breaks"):
        if k in ctl:
            fail(f"unexpected control field {k}")

    depends = parse_relations(ctl.get("Depends", ""))
    if f"postgresql-{PG_MAJOR}" not in depends:
        fail(f"Depends lacks the server package postgresql-{PG_MAJOR}: {ctl.get('Depends')!r}")
    rec = parse_relations(ctl.get("Recommends", ""))
    sug = parse_relations(ctl.get("Suggests", ""))
    if f"postgresql-{PG_MAJOR}-cron" not in rec:
        fail(f"Recommends lacks postgresql-{PG_MAJOR}-cron (refresh and auto-reindex schedules use pg_cron when present)")
    if f"postgresql-{PG_MAJOR}-postgis-3" not in sug and f"postgresql-{PG_MAJOR}-postgis-3" not in rec:
        fail(f"neither Recommends nor Suggests names postgresql-{PG_MAJOR}-postgis-3 (the spatial functions use it)")
    names = sorted({**depends, **rec, **sug})
    policy = run("apt-cache", "policy", *names, check=False).decode()
    known = {m[1] for m in re.finditer(r"^(\S+):\n\s+Installed: (?:.*)\n\s+Candidate: (?!\(none\))", policy, re.M)}
    for name in names:
        if name not in known:
            fail(f"{name} (named in the relations) is no package apt can install")

    # --- the payload ------------------------------------------------------------------------
    raw = run("dpkg-deb", "--fsys-tarfile", str(args.deb))
    tar = tarfile.open(fileobj=io.BytesIO(raw))
    files, dirs, size_kib = {}, set(), 0
    for ti in tar.getmembers():
        path = "/" + ti.name.removeprefix("./").rstrip("/") if ti.name not in (".", "./") else "/"
        if (ti.uid, ti.gid, ti.uname, ti.gname) != (0, 0, "root", "root"):
            fail(f"{path} is owned by {ti.uname}:{ti.gname}, not root:root")
        if ti.isdir():
            dirs.add(path)
            size_kib += 1
            if ti.mode & 0o7777 != 0o755:
                fail(f"directory {path} has mode {ti.mode:o}, not 755")
        elif ti.isfile():
            files[path] = tar.extractfile(ti).read()
            size_kib += math.ceil(ti.size / 1024)
            if ti.mode & 0o7777 != 0o644:
                fail(f"file {path} has mode {ti.mode:o}, not 644")
        else:
            fail(f"{path} is neither a file nor a directory")
    if ctl.get("Installed-Size") != str(size_kib):
        fail(f"Installed-Size is {ctl.get('Installed-Size')}, the payload takes {size_kib} KiB (as dpkg-gencontrol counts)")

    upgrade_re = re.compile(rf"^{EXT}--.+--.+\.sql$")  # cargo pgrx install's pattern
    upgrades = sorted(p.name for p in (ROOT / "sql").iterdir() if upgrade_re.match(p.name))
    payload = {f"{pkglibdir}/{EXT}.so", f"{extdir}/{EXT}.control", f"{extdir}/{EXT}--{version}.sql"}
    payload |= {f"{extdir}/{u}" for u in upgrades}
    docs = {f"/usr/share/doc/{PKG}/{d}" for d in DOC_FILES}
    expected = payload | docs
    for p in sorted(expected - files.keys()):
        fail(f"missing from the package: {p}")
    for p in sorted(files.keys() - expected):
        fail(f"in the package but not expected: {p}")
    want_dirs = {"/"} | {str(Path(p).parents[i]) for p in expected for i in range(len(Path(p).parents))}
    if dirs != want_dirs:
        fail(f"directories differ: extra {sorted(dirs - want_dirs)}, missing {sorted(want_dirs - dirs)}")

    # Exactly what cargo pgrx package staged (= what cargo pgrx install puts in place), byte for byte.
    staged = {"/" + str(p.relative_to(args.stage)): p for p in args.stage.rglob("*") if p.is_file()}
    if staged.keys() != payload:
        fail(f"the staged files {sorted(staged)} are not the expected {sorted(payload)}")
    for p in sorted(payload & staged.keys() & files.keys()):
        if sha256(files[p]) != sha256(staged[p].read_bytes()):
            fail(f"{p}: sha256 {sha256(files[p])[:16]} differs from the staged file's {sha256(staged[p].read_bytes())[:16]}")
    so = files.get(f"{pkglibdir}/{EXT}.so")
    built = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / f"lib{EXT}.so"
    if so is not None and built.exists() and sha256(so) != sha256(built.read_bytes()):
        fail(f"the packaged {EXT}.so is not cargo's release build {built}")
    ctl_file = files.get(f"{extdir}/{EXT}.control", b"").decode()
    if ctl_file and ctl_file != filtered((ROOT / f"{EXT}.control").read_text(), version):
        fail(f"the packaged {EXT}.control is not {EXT}.control with @CARGO_VERSION@ = {version}")
    m = re.search(r"^default_version\s*=\s*'([^']*)'", ctl_file, re.M)
    if not m or m[1] != version:
        fail(f"the packaged control file's default_version is {m and m[1]!r}, not {version}")
    for u in upgrades:
        got = files.get(f"{extdir}/{u}")
        if got is not None and got.decode() != filtered((ROOT / "sql" / u).read_text(), version):
            fail(f"the packaged {u} is not sql/{u}")
    if so is not None and not so.startswith(b"\x7fELF"):
        fail(f"{EXT}.so is no ELF file")

    # Every upgrade path PostgreSQL will need: from each released version to this one.
    edges = {}
    for u in upgrades:
        frm, to = u.removeprefix(f"{EXT}--").removesuffix(".sql").split("--", 1)
        edges.setdefault(frm, set()).add(to)
    for rel in args.released:
        seen, todo = {rel}, [rel]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        if version not in seen:
            fail(f"no chain of sql/{EXT}--<from>--<to>.sql upgrade scripts from released {rel} to {version}")

    # --- Depends against what the library really needs ---------------------------------------
    if so is not None:
        tmp = args.deb.parent / f".{EXT}.so.check"
        tmp.write_bytes(so)
        try:
            dyn = run("objdump", "-p", str(tmp)).decode()
            syms = run("objdump", "-T", str(tmp)).decode()
        finally:
            tmp.unlink()
        needed = re.findall(r"^\s*NEEDED\s+(\S+)", dyn, re.M)
        if not needed:
            fail(f"{EXT}.so has no NEEDED entries")
        multiarch = run("dpkg-architecture", "-qDEB_HOST_MULTIARCH").decode().strip()
        libdir = re.compile(rf"/(usr/)?lib(64|/{re.escape(multiarch)})?/[^/]+")
        for lib in needed:
            pkgs = set()
            for line in run("dpkg", "-S", f"*/{lib}", check=False).decode().splitlines():
                owners, _, path = line.partition(": ")
                if libdir.fullmatch(path) and path.endswith("/" + lib):
                    pkgs |= {o.strip().split(":")[0] for o in owners.split(",")}
            if not pkgs:
                fail(f"no installed package holds {lib}, which {EXT}.so needs")
            elif not pkgs & depends.keys():
                fail(f"{EXT}.so needs {lib} (package {', '.join(sorted(pkgs))}), which Depends does not name")

        def need_min(prefix, pkg):
            vers = sorted({tuple(int(x) for x in v.split("."))
                           for v in re.findall(rf"\b{prefix}_([0-9]+(?:\.[0-9]+)*)\b", syms)})
            if not vers:
                return
            top = list(vers[-1])
            while len(top) > 2 and top[-1] == 0:  # GCC_4.2.0 came with libgcc 4.2
                top.pop()
            minimum = ".".join(map(str, top))
            cons = [c for c in depends.get(pkg, []) if c]
            if not any(op in (">=", ">>", "=") and version_ge(v, minimum) for op, v in cons):
                fail(f"{EXT}.so uses {prefix}_{minimum} symbols, so Depends needs {pkg} (>= {minimum}); it has {depends.get(pkg)}")
            for op, v in cons:
                if op in (">=", "=") and not version_ge(v, minimum):
                    fail(f"{pkg} ({op} {v}) is older than the {prefix}_{minimum} symbols {EXT}.so uses")

        need_min("GLIBC", "libc6")
        need_min("GCC", "libgcc-s1")

    # --- control archive: md5sums, and the docs ----------------------------------------------
    ctrl_tar = tarfile.open(fileobj=io.BytesIO(run("dpkg-deb", "--ctrl-tarfile", str(args.deb))))
    names = {ti.name.removeprefix("./") for ti in ctrl_tar.getmembers() if ti.isfile()}
    if names != {"control", "md5sums"}:
        fail(f"control archive holds {sorted(names)}, expected control and md5sums (no maintainer scripts)")
    if "md5sums" in names:
        sums = {}
        for line in ctrl_tar.extractfile("./md5sums").read().decode().splitlines():
            digest, path = line.split(None, 1)
            sums["/" + path] = digest
        if sums.keys() != files.keys():
            fail(f"md5sums lists {sorted(sums)}, the package holds {sorted(files)}")
        for p, d in sums.items():
            if p in files and hashlib.md5(files[p]).hexdigest() != d:
                fail(f"md5sums has a wrong sum for {p}")
    doc = f"/usr/share/doc/{PKG}"
    if f"{doc}/changelog.Debian.gz" in files:
        cl = gzip.decompress(files[f"{doc}/changelog.Debian.gz"])
        parsed = parse_control(run("dpkg-parsechangelog", "-l", "-", data=cl).decode())
        if parsed.get("Version") != ctl.get("Version") or parsed.get("Source") != PKG:
            fail(f"changelog.Debian.gz is for {parsed.get('Source')} {parsed.get('Version')}, not {PKG} {ctl.get('Version')}")
    if f"{doc}/copyright" in files:
        text = files[f"{doc}/copyright"].decode()
        if not text.startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"):
            fail("copyright is not in the machine-readable format")
        for needle in ("Files: *", "License: MIT", "Permission is hereby granted", "pgrx v"):
            if needle not in text:
                fail(f"copyright lacks {needle!r}")
    for page in DOC_PAGES:
        if f"{doc}/{page}.gz" in files and gzip.decompress(files[f"{doc}/{page}.gz"]) != (ROOT / page).read_bytes():
            fail(f"{page}.gz is not {page}")

    if failures:
        print(f"{len(failures)} check(s) failed for {args.deb.name}")
        return 1
    print(f"OK: {args.deb.name}: fields, {len(files)} files ({len(payload)} as staged by cargo pgrx package, "
          f"sha256 equal), Depends cover {EXT}.so's libraries and symbol versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
