#!/usr/bin/env python3
"""Checks META.json (the PGXN distribution metadata) against PGXN Meta Spec 1.0.0 and the build.

    tests/package/meta_json.py [META.json]

Valid JSON; the spec's required keys (name, version, abstract, maintainer, license, provides,
meta-spec) and the shapes of every key used (the rules of the spec's v1 JSON schemas, written
out here with the stdlib so the check needs nothing installed); the distribution's version and
every provided extension's version equal Cargo.toml's version and ntsb_perf.control's
default_version (which is @CARGO_VERSION@, i.e. Cargo.toml's, when cargo pgrx fills it in).
Prints `FAIL: ...` for each problem and exits 1 if there was any.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEMVER = (r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
          r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
          r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
RANGE_ITEM = rf"(?:(?:[=!]=|[<>]=?)\s*)?{SEMVER}"
RANGE = re.compile(rf"(?:{RANGE_ITEM}|0)(?:,\s*{RANGE_ITEM})*")
TERM = re.compile(r"[^/\\\s\x00-\x1f\x7f]{2,}")
TAG = re.compile(r"[^/\\\x00-\x1f\x7f]{2,255}")
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
    "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0",
    "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib",
    "open_source", "restricted", "unrestricted", "unknown",
}
REQUIRED = ["name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"]
OPTIONAL = ["description", "generated_by", "tags", "no_index", "prereqs", "release_status", "resources"]
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def custom(key):
    return re.match(r"[xX]_.", key) is not None


def nonempty_str(v):
    return isinstance(v, str) and len(v) > 0


def is_uri(v):
    return isinstance(v, str) and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*:\S+", v) is not None


def keys_ok(obj, allowed, where):
    for k in obj:
        if k not in allowed and not custom(k):
            fail(f"{where}: unknown key {k!r}")


def check_spec(meta):
    for k in REQUIRED:
        if k not in meta:
            fail(f"required key {k!r} is missing")
    keys_ok(meta, REQUIRED + OPTIONAL, "META.json")

    if "name" in meta and not (isinstance(meta["name"], str) and TERM.fullmatch(meta["name"])):
        fail(f"name {meta['name']!r} is not a term (2+ characters, no slash, backslash, space or control)")
    for k in ("abstract", "description", "generated_by"):
        if k in meta and not nonempty_str(meta[k]):
            fail(f"{k} must be a non-empty string")
    if "version" in meta and not (isinstance(meta["version"], str) and re.fullmatch(SEMVER, meta["version"])):
        fail(f"version {meta.get('version')!r} is not a semantic version")
    m = meta.get("maintainer")
    if m is not None and not (nonempty_str(m) or (isinstance(m, list) and m and all(map(nonempty_str, m)))):
        fail("maintainer must be a string or a non-empty list of strings")
    lic = meta.get("license")
    if lic is not None:
        if isinstance(lic, str):
            ok = lic in LICENSES
        elif isinstance(lic, list):
            ok = bool(lic) and all(x in LICENSES for x in lic)
        else:
            ok = isinstance(lic, dict) and bool(lic) and all(is_uri(u) for u in lic.values())
        if not ok:
            fail(f"license {lic!r} is neither a known license key, a list of them, nor a name -> URI map")

    spec = meta.get("meta-spec")
    if spec is not None:
        if not isinstance(spec, dict) or not re.fullmatch(r"1\.0\.[0-9]+", str(spec.get("version", ""))):
            fail("meta-spec.version must be 1.0.x")
        elif "url" in spec and spec["url"] not in ("https://pgxn.org/meta/spec.txt", "http://pgxn.org/meta/spec.txt"):
            fail(f"meta-spec.url {spec['url']!r} is not the spec's URL")
        if isinstance(spec, dict):
            keys_ok(spec, ["version", "url"], "meta-spec")

    prov = meta.get("provides")
    if prov is not None:
        if not isinstance(prov, dict) or not prov:
            fail("provides must be a non-empty object")
        else:
            for ext, e in prov.items():
                if not TERM.fullmatch(ext):
                    fail(f"provides: {ext!r} is not a term")
                if not isinstance(e, dict):
                    fail(f"provides.{ext} must be an object")
                    continue
                keys_ok(e, ["file", "version", "abstract", "docfile", "docpath"], f"provides.{ext}")
                for k in ("file", "version"):
                    if k not in e:
                        fail(f"provides.{ext}.{k} is required")
                if "version" in e and not re.fullmatch(SEMVER, str(e["version"])):
                    fail(f"provides.{ext}.version {e['version']!r} is not a semantic version")
                for k in ("file", "docfile"):
                    if k in e and not (ROOT / str(e[k])).is_file():
                        fail(f"provides.{ext}.{k}: {e[k]!r} is no file of the distribution")
                if "abstract" in e and not nonempty_str(e["abstract"]):
                    fail(f"provides.{ext}.abstract must be a non-empty string")

    pre = meta.get("prereqs")
    if pre is not None:
        if not isinstance(pre, dict) or not pre:
            fail("prereqs must be a non-empty object")
        else:
            keys_ok(pre, ["configure", "build", "test", "runtime", "develop"], "prereqs")
            for phase, rels in pre.items():
                if not isinstance(rels, dict) or not rels:
                    fail(f"prereqs.{phase} must be a non-empty object")
                    continue
                keys_ok(rels, ["requires", "recommends", "suggests", "conflicts"], f"prereqs.{phase}")
                for rel, exts in rels.items():
                    if not isinstance(exts, dict):
                        fail(f"prereqs.{phase}.{rel} must map extension names to version ranges")
                        continue
                    for ext, rng in exts.items():
                        if not (rng == 0 or (isinstance(rng, str) and RANGE.fullmatch(rng))):
                            fail(f"prereqs.{phase}.{rel}.{ext}: {rng!r} is not a version range")

    res = meta.get("resources")
    if res is not None:
        if not isinstance(res, dict) or not res:
            fail("resources must be a non-empty object")
        else:
            keys_ok(res, ["homepage", "bugtracker", "repository"], "resources")
            if "homepage" in res and not is_uri(res["homepage"]):
                fail("resources.homepage must be a URI")
            bt = res.get("bugtracker")
            if bt is not None:
                if not isinstance(bt, dict) or not ({"web", "mailto"} & bt.keys()):
                    fail("resources.bugtracker needs web or mailto")
                else:
                    keys_ok(bt, ["web", "mailto"], "resources.bugtracker")
                    if "web" in bt and not is_uri(bt["web"]):
                        fail("resources.bugtracker.web must be a URI")
                    if "mailto" in bt and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(bt["mailto"])):
                        fail("resources.bugtracker.mailto must be an e-mail address")
            repo = res.get("repository")
            if repo is not None:
                if not isinstance(repo, dict) or not ("web" in repo or {"url", "type"} <= repo.keys()):
                    fail("resources.repository needs web, or url and type")
                else:
                    keys_ok(repo, ["url", "web", "type"], "resources.repository")

    tags = meta.get("tags")
    if tags is not None and not (isinstance(tags, list) and tags
                                 and all(isinstance(t, str) and TAG.fullmatch(t) for t in tags)):
        fail("tags must be a non-empty list of 2-255 character strings without slash, backslash or control")
    if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
        fail("release_status must be stable, testing or unstable")
    if "no_index" in meta and not isinstance(meta["no_index"], dict):
        fail("no_index must be an object")


def check_versions(meta):
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    control = (ROOT / "ntsb_perf.control").read_text()
    m = re.search(r"^\s*default_version\s*=\s*'([^']*)'", control, re.M)
    if not m:
        fail("ntsb_perf.control has no default_version")
        return
    default = cargo if m[1] == "@CARGO_VERSION@" else m[1]
    if default != cargo:
        fail(f"ntsb_perf.control's default_version {default} is not Cargo.toml's {cargo}")
    if meta.get("version") != cargo:
        fail(f"META.json version {meta.get('version')!r} is not Cargo.toml's {cargo}")
    for ext, e in (meta.get("provides") or {}).items():
        if isinstance(e, dict) and e.get("version") != default:
            fail(f"META.json provides.{ext}.version {e.get('version')!r} is not default_version {default}")
    if "ntsb_perf" not in (meta.get("provides") or {}):
        fail("META.json does not provide the extension ntsb_perf")
    lic = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"].get("license")
    if lic == "MIT" and meta.get("license") not in ("mit", ["mit"]):
        fail(f"META.json license {meta.get('license')!r} is not Cargo.toml's MIT")


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "META.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        fail(f"{path} is not valid JSON: {e}")
        return 1
    if not isinstance(meta, dict):
        fail(f"{path} is not a JSON object")
        return 1
    check_spec(meta)
    check_versions(meta)
    if failures:
        print(f"{len(failures)} META.json check(s) failed")
        return 1
    print(f"OK: {path.name} follows PGXN Meta Spec {meta['meta-spec']['version']}, version {meta['version']} "
          "= Cargo.toml = ntsb_perf.control's default_version")
    return 0


if __name__ == "__main__":
    sys.exit(main())
