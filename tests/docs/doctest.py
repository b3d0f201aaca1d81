#!/usr/bin/env python3
"""Documentation that runs: every ```sql block of README.md, docs/*.md, CONTRIBUTING.md and of
the rustdoc in src/**/*.rs is a psql session that is run against a throwaway cluster and
compared with what it shows.

tests/docs/doctest.sh starts the cluster, builds the data sets and calls this file; `make test` runs
it after the SQL regression tests. Python 3 standard library only.

How a block is written (its statements and expected output, the `<!-- doctest: ... -->`
comment with data=, setup=, mask= and skip=, what is always masked): CONTRIBUTING.md, "Doc
tests". In rustdoc the same lines follow `/// `. Blocks run in this order: README.md, then
docs/*.md sorted by name, then CONTRIBUTING.md, then src/**/*.rs by path, each file top to
bottom. Each block starts from a fresh copy of its data set; only the OIDs of objects a block
creates depend on what ran before it.

On a difference the block's file and line are named with a diff (- shown, + produced), and the
whole produced session is written to target/doctest/out/ (ready to paste). `--accept` writes
the produced output into the files instead (masked lines that still match are kept).
"""
import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROMPT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*)?=[#>] ")
DIRECTIVE = "<!-- doctest:"
DATA_SETS = ("empty", "csv", "generated")
DB = "ntsb"
MARK = "@@doctest {}@@"
ALWAYS_MASKED = [
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?"), "<timestamp>"),
    (re.compile(r"\b\d+:\d\d:\d\d\.\d+"), "<duration>"),
]
TABLE_RULE = re.compile(r"^-+(\+-+)*$")


class Block:
    def __init__(self, path, fence_line, prefix):
        self.path, self.fence_line, self.prefix = path, fence_line, prefix
        self.data, self.setup_files, self.setup_sql, self.masks = "empty", [], [], set()
        self.skip = None
        self.statements = []  # [line number, sql lines, expected lines, (first, end) of expected]

    @property
    def where(self):
        return f"{self.path}:{self.fence_line}"


def doc_lines(path):
    """(line number, markdown text, prefix) of a file's documentation lines."""
    text = path.read_text(encoding="utf-8").split("\n")
    if path.suffix != ".rs":
        return [(i + 1, line, "") for i, line in enumerate(text)]
    out = []
    for i, line in enumerate(text):
        m = re.match(r"^(\s*//[/!] ?)(.*)$", line)
        if m:
            out.append((i + 1, m.group(2), m.group(1)))
        else:
            out.append((i + 1, None, ""))
    return out


def statement_ends(line, state):
    """Scans one line like psql's lexer; returns True when a statement ends on it."""
    i = 0
    while i < len(line):
        c = line[i]
        if state["quote"]:
            q = state["quote"]
            if line.startswith(q, i):
                i += len(q)
                state["quote"] = None
                continue
            i += 1
            continue
        if state["comment"]:
            if line.startswith("*/", i):
                state["comment"] -= 1
                i += 2
            elif line.startswith("/*", i):
                state["comment"] += 1
                i += 2
            else:
                i += 1
            continue
        if line.startswith("--", i):
            return False
        if line.startswith("/*", i):
            state["comment"] = 1
            i += 2
            continue
        if c in "'\"":
            state["quote"] = c
        elif c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", line[i:])
            if m:
                state["quote"] = m.group(0)
                i += len(m.group(0))
                continue
        elif c == "(":
            state["parens"] += 1
        elif c == ")":
            state["parens"] -= 1
        elif c == ";" and state["parens"] <= 0:
            return True
        elif c == "\\":
            return True  # a backslash command ends the statement (\gx, \x, ...)
        i += 1
    return False


def parse_directive(block, lines):
    """lines: the comment's lines, first one starting with DIRECTIVE."""
    head = lines[0][len(DIRECTIVE):]
    rest = lines[1:]
    closed = head.rstrip().endswith("-->")
    if closed:
        head = head.rstrip()[:-3]
    elif rest and rest[-1].strip() == "-->":
        rest = rest[:-1]
    for word in shlex.split(head):
        key, _, value = word.partition("=")
        if key == "data":
            if value not in DATA_SETS:
                raise ValueError(f"data={value}: not one of {', '.join(DATA_SETS)}")
            block.data = value
        elif key == "setup":
            block.setup_files += [v for v in value.split(",") if v]
        elif key == "mask":
            block.masks |= {v for v in value.split(",") if v}
        elif key == "skip":
            block.skip = value or "no reason given"
        else:
            raise ValueError(f"unknown doctest word {word!r}")
    block.setup_sql = rest


def extract(path):
    """The ```sql blocks of one file."""
    lines = doc_lines(path)
    rel = path.relative_to(ROOT)
    blocks, i = [], 0
    while i < len(lines):
        num, text, prefix = lines[i]
        if text is None or text.strip() != "```sql":
            i += 1
            continue
        block = Block(rel, num, prefix)
        # The directive: the comment that ends on the line before the fence.
        j = i - 1
        if j >= 0 and lines[j][1] is not None and lines[j][1].rstrip().endswith("-->"):
            k = j
            while k >= 0 and lines[k][1] is not None and not lines[k][1].startswith(DIRECTIVE):
                k -= 1
            if k >= 0 and lines[k][1] is not None:
                try:
                    parse_directive(block, [t for _, t, _ in lines[k:j + 1]])
                except ValueError as e:
                    raise SystemExit(f"{rel}:{lines[k][0]}: {e}")
        i += 1
        body = []
        while i < len(lines) and lines[i][1] is not None and lines[i][1].strip() != "```":
            body.append((lines[i][0], lines[i][1]))
            i += 1
        if i >= len(lines) or lines[i][1] is None:
            raise SystemExit(f"{rel}:{num}: ```sql block is not closed")
        i += 1
        parse_body(block, body)
        blocks.append(block)
    return blocks


def parse_body(block, body):
    state, current = None, None
    for idx, (num, text) in enumerate(body):
        if state is None and PROMPT.match(text):
            sql = PROMPT.sub("", text, count=1)
            current = [num, [sql], [], None]
            block.statements.append(current)
            state = {"quote": None, "comment": 0, "parens": 0}
            if statement_ends(sql, state):
                state = None
                current[3] = (idx + 1, idx + 1)
            continue
        if current is None:
            if block.skip:
                continue
            raise SystemExit(f"{block.path}:{num}: text before the block's first prompt "
                             "(a statement starts with `ntsb=# `)")
        if state is not None:
            current[1].append(text)
            if statement_ends(text, state):
                state = None
                current[3] = (idx + 1, idx + 1)
            continue
        current[2].append(text)
        current[3] = (current[3][0], idx + 1)
    if state is not None and not block.skip:
        raise SystemExit(f"{block.path}:{current[0]}: the statement does not end (no `;`)")
    if not block.statements and not block.skip:
        raise SystemExit(f"{block.where}: a ```sql block without a statement (prompt `ntsb=# `)")
    block.body = body


def all_blocks():
    files = ([ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
             + [f for f in [ROOT / "CONTRIBUTING.md"] if f.exists()]
             + sorted((ROOT / "src").rglob("*.rs")))
    return [b for f in files for b in extract(f)]


def psql(args, stdin, timeout=600):
    cmd = [os.environ.get("PSQL", "psql"), "-X", "-q", "-h", os.environ["DOCTEST_HOST"],
           "-p", os.environ["DOCTEST_PORT"], "-U", "postgres"] + args
    return subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def strip_statement_comment(sql_lines):
    """Drops a `-- comment` after the final `;` (psql would keep it for the next statement)."""
    last = sql_lines[-1]
    m = re.match(r"^(.*;)\s*--.*$", last)
    return sql_lines[:-1] + [m.group(1)] if m else sql_lines


def run_block(block):
    """Runs one block in a fresh database; returns the output of each statement."""
    fresh = psql(["-d", "postgres", "-v", "ON_ERROR_STOP=1"],
                 f"DROP DATABASE IF EXISTS {DB} WITH (FORCE);\n"
                 f"CREATE DATABASE {DB} TEMPLATE doctest_{block.data};\n")
    if fresh.returncode != 0:
        return None, f"could not create the database from doctest_{block.data}:\n{fresh.stdout}"
    if block.setup_files or block.setup_sql:
        script = "".join(f"\\i {ROOT / f}\n" for f in block.setup_files)
        script += "\n".join(block.setup_sql) + "\n"
        # Flushed before the next statement's ReadyForQuery, so the block sees the counters.
        script += "SELECT pg_stat_force_next_flush();\nSELECT 1;\n"
        setup = psql(["-d", DB, "-v", "ON_ERROR_STOP=1"], script)
        if setup.returncode != 0:
            return None, f"setup failed:\n{setup.stdout}"
    script = ["\\set ON_ERROR_STOP 0", "\\set SHOW_CONTEXT never", "\\pset pager off"]
    for n, (_, sql, _, _) in enumerate(block.statements):
        script.append("\\echo " + MARK.format(n))
        script += strip_statement_comment(sql)
    script.append("\\echo " + MARK.format("end"))
    done = psql(["-d", DB], "\n".join(script) + "\n")
    out = done.stdout.split("\n")
    outputs, current = [], None
    marks = {MARK.format(n): n for n in range(len(block.statements))}
    for line in out:
        if line in marks:
            current = []
            outputs.append(current)
        elif line == MARK.format("end"):
            current = None
        elif current is not None:
            current.append(line)
    if len(outputs) != len(block.statements):
        return None, f"psql stopped early (exit {done.returncode}):\n{done.stdout}"
    return outputs, None


def trim(lines):
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def mask_columns(lines, masks):
    """Replaces the cells of masked columns (aligned tables and \\x records) with '…'."""
    if not masks:
        return list(lines)
    out, spans = [], None
    for i, line in enumerate(lines):
        if TABLE_RULE.match(line.strip()) and i > 0 and "-" in line:
            spans, pos = [], 0
            for seg in line.split("+"):
                spans.append((pos, pos + len(seg)))
                pos += len(seg) + 1
            header = lines[i - 1]
            names = [header[a:b].strip() for a, b in spans]
            spans = [s for s, name in zip(spans, names) if name in masks]
            out.append(line)
            continue
        if spans is not None and (not line.strip() or re.match(r"^\(\d+ rows?\)$", line)):
            spans = None
        if spans:
            chars = list(line.ljust(max(b for _, b in spans)))
            for a, b in sorted(spans, reverse=True):
                chars[a:b] = list(" …".ljust(b - a))
            line = "".join(chars)
        m = re.match(r"^(\S+)\s*\| (.*)$", line)
        if spans is None and m and m.group(1) in masks:
            line = f"{m.group(1)} | …"
        out.append(line)
    return out


def normalise(lines, masks):
    out = []
    for line in mask_columns(lines, masks):
        for pattern, token in ALWAYS_MASKED:
            line = pattern.sub(token, line)
        line = re.sub(r"\s+", " ", line).rstrip()
        if TABLE_RULE.match(line.strip()):
            line = re.sub(r"-+", "-", line)
        out.append(line)
    return out


def line_matches(expected, actual):
    if "…" not in expected:
        return expected == actual
    parts = [re.escape(p) for p in expected.split("…")]
    return re.fullmatch(".*?".join(parts), actual, re.S) is not None


def compare(expected, actual, masks):
    """None when they agree, else the lines of a diff (- expected, + actual)."""
    expected, actual = trim(expected), trim(actual)
    e, a = normalise(expected, masks), normalise(actual, masks)
    if len(e) == len(a) and all(line_matches(x, y) for x, y in zip(e, a)):
        return None
    # Actual lines that a wildcard line accepts are keyed as that line, for a readable diff.
    keys = []
    for y in a:
        keys.append(next((x for x in e if "…" in x and line_matches(x, y)), y))
    diff = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, e, keys, autojunk=False).get_opcodes():
        if tag == "equal":
            diff += ["  " + line for line in expected[i1:i2]]
        else:
            diff += ["- " + line for line in expected[i1:i2]]
            diff += ["+ " + line for line in actual[j1:j2]]
    return diff


def transcript(block, outputs):
    lines = []
    for (_, sql, _, _), out in zip(block.statements, outputs):
        lines.append(f"{DB}=# " + sql[0])
        lines += sql[1:]
        lines += out
    return trim(lines)


def accept_edits(block, outputs):
    """(first line index, end index, new lines) in the block's file for each differing statement."""
    edits = []
    last = len(block.statements) - 1
    for n, ((_, _, expected, (a, b)), out) in enumerate(zip(block.statements, outputs)):
        if compare(expected, out, block.masks) is None:
            continue
        # psql's blank line after a result stays, except at the end of the block.
        out = trim(out) if n == last else out
        # The expected lines are body[a:b]; with none yet, insert after the statement.
        start = block.body[a][0] - 1 if a < b else block.body[a - 1][0]
        lines = [(block.prefix + line).rstrip() for line in out]
        edits.append((start, start + (b - a), lines))
    return edits


def accept(path, edits):
    """Applies the edits of one file, bottom up (line numbers stay right)."""
    text = (ROOT / path).read_text(encoding="utf-8").split("\n")
    for s, e, lines in sorted(edits, reverse=True):
        text[s:e] = lines
    (ROOT / path).write_text("\n".join(text), encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["list", "run"])
    ap.add_argument("only", nargs="*", help="run only blocks whose FILE:LINE starts with this")
    ap.add_argument("--accept", action="store_true", help="write produced output into the docs")
    ap.add_argument("--have", default="", help="data sets that were built (comma separated)")
    args = ap.parse_intermixed_args()
    blocks = all_blocks()
    if args.only:
        blocks = [b for b in blocks if any(b.where.startswith(o) for o in args.only)]
    if args.command == "list":
        for b in blocks:
            state = f"skip: {b.skip}" if b.skip else f"data={b.data}"
            print(f"{b.where}  {len(b.statements)} statement(s)  {state}")
        return 0
    have = set(args.have.split(","))
    out_dir = ROOT / "target" / "doctest" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    passed, failed, skipped, accepted = 0, [], [], {}
    for b in blocks:
        if b.skip:
            skipped.append((b, b.skip))
            continue
        if b.data not in have:
            skipped.append((b, f"data set {b.data} is not available"))
            continue
        outputs, error = run_block(b)
        if error:
            print(f"FAIL {b.where}: {error}")
            failed.append(b)
            continue
        name = str(b.path).replace("/", "_") + f"-{b.fence_line}.out"
        (out_dir / name).write_text("\n".join(transcript(b, outputs)) + "\n", encoding="utf-8")
        diffs = []
        for (num, sql, expected, _), out in zip(b.statements, outputs):
            d = compare(expected, out, b.masks)
            if d is not None:
                diffs.append((num, sql, d))
        if not diffs:
            passed += 1
            print(f"ok   {b.where}")
            continue
        failed.append(b)
        print(f"FAIL {b.where}: {len(diffs)} statement(s) differ (- shown, + produced; "
              f"whole session in target/doctest/out/{name})")
        for num, sql, d in diffs:
            print(f"  {b.path}:{num}: {sql[0].strip()}")
            print("\n".join("    " + line for line in d))
        if args.accept:
            accepted.setdefault(b.path, []).extend(accept_edits(b, outputs))
    for path, edits in accepted.items():
        accept(path, edits)
        print(f"accepted: {len(edits)} statement(s) of {path} rewritten with the produced output")
    for b, reason in skipped:
        print(f"skip {b.where}: {reason}")
    print(f"doctest: {passed} passed, {len(failed)} failed, {len(skipped)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
