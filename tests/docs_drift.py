#!/usr/bin/env python3
"""docs_drift.py - the man pages say what the daemon does.

  docs_drift.py MXGATE MAN_DIR

Fails (exit 1) when the commands of `mxgatectl help` (the same registry,
printed by the hidden `mxgate --list-commands`) differ from those of
mxgatectl(8)'s COMMANDS section, or when the keys of the key table
(`mxgate --list-keys`, core/config.c) differ from mxgate.conf(5)'s, or a
key's class (live/restart) differs. Every difference is named, with what
to do about it.
"""
import re
import subprocess
import sys


def run(exe, arg):
    return subprocess.run([exe, arg], capture_output=True, text=True, check=True).stdout


def help_commands(text):
    cmds = set()
    for line in text.splitlines()[1:]:
        name = re.split(r"\s{2,}", line.strip())[0]
        words = []
        for t in name.split():
            if not re.fullmatch(r"[a-z]+", t):
                break
            words.append(t)
        if words:
            cmds.add(" ".join(words))
    return cmds


def page_commands(path):
    cmds, inside, after_tp = set(), False, False
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith(".SH"):
            inside = line.split(None, 1)[1].strip('"') == "COMMANDS"
            continue
        if inside and line == ".TP":
            after_tp = True
            continue
        if inside and after_tp and line.startswith(".B "):
            cmds.add(line[3:].strip())
        after_tp = False
    return cmds


def page_keys(path):
    keys, section, after_tp, pending = {}, None, False, None
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^\.SS \[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        if line == ".TP":
            after_tp = True
            continue
        if after_tp and line.startswith(".B ") and section:
            pending = "[%s] %s" % (section, line[3:].strip())
            keys[pending] = None
        elif pending:
            m = re.search(r"\((live|restart)\)\s*$", line)
            if m:
                keys[pending] = m.group(1)
                pending = None
        after_tp = False
    return keys


def main():
    exe, man = sys.argv[1], sys.argv[2]
    errors = []
    want = help_commands(run(exe, "--list-commands"))
    have = page_commands(man + "/mxgatectl.8")
    for c in sorted(want - have):
        errors.append("mxgatectl(8) (docs/man/mxgatectl.8) does not document the command "
                      "'%s' that `mxgatectl help` lists: add a .TP/.B %s entry under COMMANDS"
                      % (c, c))
    for c in sorted(have - want):
        errors.append("mxgatectl(8) documents '%s', which `mxgatectl help` does not list: "
                      "remove it or register the command" % c)
    table = {}
    for line in run(exe, "--list-keys").splitlines():
        sec, name, cls = line.split()
        table["%s %s" % (sec, name)] = cls
    page = page_keys(man + "/mxgate.conf.5")
    for k in sorted(set(table) - set(page)):
        errors.append("mxgate.conf(5) (docs/man/mxgate.conf.5) lacks the key %s (%s) of the "
                      "key table in core/config.c: regenerate it with scripts/gen-man-conf.py "
                      "build/mxgate etc/mxgate.conf > docs/man/mxgate.conf.5" % (k, table[k]))
    for k in sorted(set(page) - set(table)):
        errors.append("mxgate.conf(5) documents %s, which is not in the key table of "
                      "core/config.c: regenerate the page" % k)
    for k in sorted(set(page) & set(table)):
        if page[k] != table[k]:
            errors.append("mxgate.conf(5) says %s is (%s), the key table says %s"
                          % (k, page[k], table[k]))
    for e in errors:
        print("FAIL: " + e)
    if errors:
        return 1
    print("ok: mxgatectl(8) lists the %d commands of `mxgatectl help`; mxgate.conf(5) the %d "
          "keys of the key table, each with its class" % (len(want), len(table)))
    return 0


sys.exit(main())
