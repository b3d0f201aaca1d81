#!/usr/bin/env python3
"""Prints statements of an extension install script (what `cargo pgrx schema` writes), for
writing upgrade scripts: the statements that create the named objects, in the install script's
order, with their GRANTs/REVOKEs/COMMENTs, and CREATE turned into CREATE OR REPLACE for the
objects named with --replace.

    scripts/sql_statements.py ntsb_perf--0.2.0.sql --new _forget,reindex_status \
        --replace refresh_reason,track_change
    scripts/sql_statements.py ntsb_perf--0.2.0.sql --list     # each statement's object

Names are unqualified object names (functions by name: all overloads are taken).
"""
import argparse
import re
import sys


def split(sql):
    """Top-level statements: `;` outside quotes, dollar quotes and comments."""
    out, start, i, n = [], 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            i = sql.find("*/", i) + 2
        elif c == "'":
            j = i + 1
            while True:
                k = sql.find("'", j)
                if k + 1 < n and sql[k + 1] == "'":
                    j = k + 2
                    continue
                break
            i = k + 1
        elif c == '"':
            i = sql.find('"', i + 1) + 1
        elif c == "$" and (m := re.match(r"\$[A-Za-z_]*\$", sql[i:])):
            tag = m.group(0)
            i = sql.find(tag, i + len(tag)) + len(tag)
        elif c == ";":
            out.append(sql[start:i + 1])
            start = i + 1
            i += 1
        else:
            i += 1
    return out


def code(stmt):
    s = re.sub(r"(?m)^\s*--.*$", "", stmt)
    s = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    return " ".join(s.split())


# The notes cargo pgrx schema writes around each entity (where it came from, what it needs).
PGRX_NOTE = re.compile(r"^(/\* </?(begin|end) connected objects> \*/|-- src/\S+:\d+|-- ntsb_perf::\S+"
                       r"|-- requires:|--   \w+)\s*$")
NAME = r'(?:ntsb_perf\.)?"?([A-Za-z_][A-Za-z0-9_]*)"?'


def target(stmt):
    """(kind, object name) a statement creates or grants on."""
    c = code(stmt)
    pats = [
        ("create", rf"^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE|AGGREGATE|VIEW|TABLE|SEQUENCE|TYPE) {NAME}"),
        ("create", rf"^CREATE (?:UNIQUE )?INDEX \S+ ON {NAME}"),
        ("create", rf"^CREATE TRIGGER \S+ .*? ON {NAME}"),
        ("create", rf"^CREATE EVENT TRIGGER ({NAME})"),
        ("create", rf"^ALTER EVENT TRIGGER ({NAME})"),
        ("create", rf"^ALTER TABLE {NAME}"),
        ("create", rf"^CREATE POLICY \S+ ON {NAME}"),
        ("acl", rf"^(?:GRANT|REVOKE) .*? ON (?:FUNCTION |SEQUENCE |TABLE )?{NAME}"),
        ("acl", rf"^ALTER FUNCTION {NAME}"),
        ("acl", rf"^COMMENT ON \w+ {NAME}"),
        ("acl", rf"^SELECT pg_catalog\.pg_extension_config_dump\('{NAME}"),
    ]
    for kind, p in pats:
        m = re.match(p, c)
        if m:
            return kind, m.groups()[-1]
    return None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("script")
    ap.add_argument("--new", default="")
    ap.add_argument("--replace", default="")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    new = set(filter(None, a.new.split(",")))
    repl = set(filter(None, a.replace.split(",")))
    stmts = split(open(a.script).read())
    if a.list:
        for s in stmts:
            print(target(s), code(s)[:100])
        return
    seen = set()
    for s in stmts:
        kind, name = target(s)
        if name in new or name in repl:
            seen.add(name)
            text = "\n".join(l for l in s.strip("\n").split("\n") if not PGRX_NOTE.match(l))
            if name in repl and kind == "create":
                text = re.sub(r"CREATE\s+(FUNCTION|PROCEDURE|VIEW)", r"CREATE OR REPLACE \1", text, count=1)
            print(text.strip() + "\n")
    missing = (new | repl) - seen
    if missing:
        sys.exit(f"not in {a.script}: {', '.join(sorted(missing))}")


if __name__ == "__main__":
    main()
