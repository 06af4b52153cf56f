"""The documentation against the code (CPython only, no peers).

- Each capability page's "## Options" table lists the keys of its owner
  module's ``OPTIONS``, in order, with the code's defaults.
- Every relative link of README.md and docs/*.md reaches a file, and every
  ``#anchor`` a heading of its target (GitHub's slugs).
- README.md stays short; no keyword of the 0.1.0 API survives in README.md
  or docs/ (CHANGES.md keeps them, in its mapping table).
- Every JSON example is a configuration that ``monitoring.check`` accepts.
- docs/modules.md names every module of lib/monitoring/.
- Every test a page names (`` `test_...` ``, backing a claim) exists.
"""

import glob
import importlib
import json
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "lib"))  # as conftest.py does

import monitoring  # noqa: E402

# capability page (docs/<name>.md, and the section's name) -> owner module
OWNERS = {
    "influx": "influx",
    "syslog": "syslog_handler",
    "control": "control_server",
    "trace": "trace",
    "prometheus": "prometheus",
    "sources": "sources",
    "crash": "crash",
}

DOCS = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))

# the 0.1.0 keywords of start() and keys of config.json that the sections replaced
OLD_NAMES = (
    "listen_port", "listen_addr", "control_token", "control_clients",
    "syslog_transport", "syslog_framing", "syslog_format", "syslog_facility",
    "syslog_queue", "syslog_max_len", "syslog_bom",
    "trace_port", "trace_interval_ms", "prometheus_port", "prometheus_addr",
    "buffer_size", "builtin_sources", "net_sources", "to_start_kwargs",
)
OLD_PATTERNS = (
    r"\binterval\s*=",  # start(interval=...), now influx.interval_s
    r"\bmtu\s*=",  # start(mtu=...), now influx.mtu_bytes
    r'"interval"\s*:',  # config.json's influx.interval
    r'"queue"\s*:',  # config.json's syslog.queue
    r"\bsyslog\.queue\b(?!_)",
    r"\binflux\.interval\b(?!_)",
)
# where an old name is still the right word: the trace header's field
# (the stream format, version 1) is called buffer_size
ALLOWED = {
    os.path.join("docs", "trace.md"): ("| `buffer_size` | the session's output buffer",),
}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rel(path):
    return os.path.relpath(path, ROOT)


def without_code_blocks(text):
    """``text`` with fenced code blocks blanked (their lines kept, empty)."""
    out = []
    fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            out.append("")
        else:
            out.append("" if fence else line)
    return "\n".join(out)


def cells(line):
    """The cells of a Markdown table row, split at ``|`` outside code spans."""
    line = line.strip()
    assert line.startswith("|") and line.endswith("|"), line
    out = []
    cur = ""
    code = False
    for ch in line[1:-1]:
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def section(text, heading):
    """The lines under ``heading`` (a whole heading line) up to the next
    heading of the same or a higher level."""
    lines = without_code_blocks(text).split("\n")
    level = len(heading) - len(heading.lstrip("#"))
    assert lines.count(heading) == 1, "%r: expected once" % heading
    start = lines.index(heading) + 1
    end = start
    while end < len(lines):
        m = re.match(r"(#+) ", lines[end])
        if m and len(m.group(1)) <= level:
            break
        end += 1
    return lines[start:end]


def tables(lines):
    """Each table in ``lines``: a list of its rows (lists of cells),
    header first, the separator row left out."""
    out = []
    cur = None
    for line in lines:
        if line.strip().startswith("|"):
            if cur is None:
                cur = []
                out.append(cur)
            if not re.match(r"^\|[\s:|-]+\|$", line.strip()):
                cur.append(cells(line))
        else:
            cur = None
    return out


def render_default(default):
    """A default as the Options tables write it."""
    if default is ...:
        return "required"
    return "`%s`" % json.dumps(default)


def options_table(page):
    path = os.path.join(ROOT, "docs", page + ".md")
    found = tables(section(read(path), "## Options"))
    assert len(found) == 1, "%s: expected one table under ## Options, found %d" % (
        rel(path), len(found))
    rows = found[0]
    assert rows[0] == ["key", "default", "meaning"], "%s: header %r" % (rel(path), rows[0])
    return rows[1:]


@pytest.mark.parametrize("page", sorted(OWNERS))
def test_options_table_is_the_code(page):
    mod = importlib.import_module("monitoring." + OWNERS[page])
    rows = options_table(page)
    for row in rows:
        assert len(row) == 3 and row[2], "docs/%s.md: bad row %r" % (page, row)
        assert re.match(r"^`[a-z_]+`$", row[0]), "docs/%s.md: key cell %r" % (page, row[0])
    keys = [row[0].strip("`") for row in rows]
    table = mod.OPTIONS  # key, default, rule triples, flat
    assert keys == list(table[0::3]), "docs/%s.md: keys" % page
    for row, key, default in zip(rows, table[0::3], table[1::3]):
        assert row[1] == render_default(default), "docs/%s.md: %s.%s default" % (page, page, key)


def test_every_section_has_a_page():
    from monitoring import options

    assert sorted(OWNERS) == sorted(options.SECTIONS)


# -- links ---------------------------------------------------------------------


def slug(heading):
    """GitHub's anchor for a heading's text: lowercase, punctuation other
    than '-' and '_' dropped, spaces turned into '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    """Every anchor of the Markdown file ``path`` (repeats get -1, -2...)."""
    seen = {}
    out = set()
    for line in without_code_blocks(read(path)).split("\n"):
        m = re.match(r"#{1,6} (.*)", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else "%s-%d" % (s, n))
    return out


def links(path):
    """``(line number, target)`` of every Markdown link outside code."""
    text = without_code_blocks(read(path))
    out = []
    for i, line in enumerate(text.split("\n"), 1):
        line = re.sub(r"`[^`]*`", "", line)  # inline code
        for m in re.finditer(r"\[[^\]]*\]\(([^)\s]+)\)", line):
            out.append((i, m.group(1)))
    return out


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_links_reach_files_and_headings(path):
    bad = []
    for line, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(dest):
            bad.append("%d: %s: no such file" % (line, target))
        elif anchor:
            if not dest.endswith(".md"):
                bad.append("%d: %s: an anchor into a file that is not Markdown" % (line, target))
            elif anchor not in anchors(dest):
                bad.append("%d: %s: no heading %r in %s" % (line, target, anchor, rel(dest)))
    assert not bad, "%s:\n  %s" % (rel(path), "\n  ".join(bad))


def test_slugs_follow_github():
    assert slug("Buffer, retries and accounting") == "buffer-retries-and-accounting"
    assert slug("`monctl` and the `L`/`l` commands") == "monctl-and-the-ll-commands"
    assert slug("net and asyncio") == "net-and-asyncio"
    assert slug("How it differs (from mirage-monitoring)") == "how-it-differs-from-mirage-monitoring"
    assert slug("snake_case stays") == "snake_case-stays"


def test_the_link_checker_sees_a_bad_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nSee [it](#nowhere), [x](#title) and `[no](#code)`.\n")
    assert links(str(page)) == [(3, "#nowhere"), (3, "#title")]
    assert anchors(str(page)) == {"title"}


# -- length, old names ------------------------------------------------------------


def test_readme_is_short():
    n = read(os.path.join(ROOT, "README.md")).count("\n")
    assert n <= 250, "README.md: %d lines (at most 250)" % n


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_no_old_keyword_names(path):
    text = read(path)
    for allowed in ALLOWED.get(rel(path), ()):
        assert allowed in text, "%s: the allowed phrase %r is gone: update ALLOWED" % (
            rel(path), allowed)
        text = text.replace(allowed, "")
    found = []
    for i, line in enumerate(text.split("\n"), 1):
        for name in OLD_NAMES:
            if re.search(r"\b%s\b" % name, line):
                found.append("%d: %s" % (i, name))
        for pat in OLD_PATTERNS:
            if re.search(pat, line):
                found.append("%d: %s" % (i, pat))
    assert not found, "%s: 0.1.0 names (see CHANGES.md):\n  %s" % (rel(path), "\n  ".join(found))


# -- examples, module map -----------------------------------------------------------


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_json_examples_are_valid_configurations(path):
    blocks = re.findall(r"```json\n(.*?)```", read(path), re.S)
    for body in blocks:
        doc = json.loads(body)
        monitoring.check(doc)  # raises ValueError naming section.key


def test_every_module_is_in_the_map():
    text = read(os.path.join(ROOT, "docs", "modules.md"))
    listed = set(re.findall(r"^\| `([a-z_]+\.py)` \|", text, re.M))
    files = set(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "lib", "monitoring", "*.py")))
    assert listed == files, "missing: %s; not in lib/: %s" % (
        sorted(files - listed), sorted(listed - files))


def test_the_tests_named_by_the_pages_exist():
    """A claim backed by a named test stays backed: renaming or removing
    the test fails here."""
    names = set()
    for path in glob.glob(os.path.join(HERE, "**", "test_*.py"), recursive=True):
        names.update(re.findall(r"^def (test_\w+)", read(path), re.M))
    bad = []
    for path in DOCS:
        for name in re.findall(r"`(test_\w+)`", read(path)):
            if name not in names:
                bad.append("%s: %s" % (rel(path), name))
    assert names and not bad, bad
