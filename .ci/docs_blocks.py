#!/usr/bin/env python3
"""Static checks of docs/*.md and extraction of their runnable blocks (used by check_docs.sh).

  docs_blocks.py OUTDIR   check, then write each runnable block as OUTDIR/block_NNN.sh (first
                          line `# FILE:LINE`) plus block_NNN.expect for `run output="TEXT"`.
Exit 1 with the reasons when a static check fails.
"""
import glob
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_DOCS = ["docs/deployment.md", "docs/api.md", "docs/operations.md"]  # run in this order (api.md uses the cluster deployment.md starts)
TRANSLATIONS = [("docs/deployment.md", "docs/deployment.zh-CN.md")]
MARKER = re.compile(r'^<!-- check-docs: run(?: output="(.*)")? -->$')
# Repository paths as operators type them; a leading `/` (e.g. /opt/distributed-cache/config/...)
# means an installed path, not one in the repository.
REPO_PATH = re.compile(r"(?<![\w/.$-])(?:\./)?((?:scripts|systemd|sysctl|k8s|monitoring|config|docs|\.ci)/[\w.@*/-]*[\w*])")


def blocks(path):
    """(line, lang, code, marker) for every fenced block; marker is None, "" or the expected text."""
    lines = open(os.path.join(REPO, path), encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if m and m.group(1):
            start, lang, code = i + 1, m.group(1), []
            i += 1
            while i < len(lines) and lines[i] != "```":
                code.append(lines[i])
                i += 1
            prev = lines[start - 2] if start >= 2 else ""
            mk = MARKER.match(prev)
            out.append((start, lang, "\n".join(code), None if not mk else (mk.group(1) or "")))
        i += 1
    return out


def code_spans(path):
    text = open(os.path.join(REPO, path), encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"``(.+?)``|`([^`\n]+)`", text)


def normalize(code):
    """A block without its comments, which translations may change."""
    keep = []
    for line in code.split("\n"):
        if line.strip().startswith("#") or not line.strip():
            continue
        keep.append(re.sub(r"\s+#\s.*$", "", line).rstrip())
    return "\n".join(keep)


def main():
    outdir = sys.argv[1]
    problems = []
    docs = sorted(glob.glob(os.path.join(REPO, "docs/*.md")))
    for full in docs:
        path = os.path.relpath(full, REPO)
        texts = [c for _, _, c, _ in blocks(path)] + [a or b for a, b in code_spans(path)]
        for t in texts:
            for p in REPO_PATH.findall(t):
                if not glob.glob(os.path.join(REPO, p)):
                    problems.append(f"{path}: names {p}, which is not in the repository")
    for orig, trans in TRANSLATIONS:
        a = [(lang, normalize(c), mk) for _, lang, c, mk in blocks(orig)]
        b = [(lang, normalize(c), mk) for _, lang, c, mk in blocks(trans)]
        if a != b:
            for n, (x, y) in enumerate(zip(a, b)):
                if x != y:
                    problems.append(f"{trans}: code block {n + 1} differs from {orig}'s:\n{x}\n---\n{y}")
                    break
            else:
                problems.append(f"{trans} has {len(b)} code blocks, {orig} has {len(a)}")
    ops = open(os.path.join(REPO, "docs/operations.md"), encoding="utf-8").read()
    alerts = re.findall(r"^\s*- alert: (\w+)", open(os.path.join(REPO, "monitoring/alerts.yml")).read(), re.M)
    for a in alerts:
        if not re.search(rf"^### {a}$", ops, re.M):
            problems.append(f"docs/operations.md has no '### {a}' section (the alert's runbook link)")
    if problems:
        print("\n".join(f"FAIL {p}" for p in problems))
        return 1
    print(f"ok   docs: repository paths exist, translation has the same commands, {len(alerts)} alerts documented")
    n = 0
    for path in RUN_DOCS:
        for line, lang, code, mk in blocks(path):
            if mk is None:
                continue
            if lang != "bash":
                print(f"FAIL {path}:{line}: only bash blocks can be marked runnable")
                return 1
            n += 1
            base = os.path.join(outdir, f"block_{n:03d}")
            with open(base + ".sh", "w", encoding="utf-8") as f:
                f.write(f"# {path}:{line}\n{code}\n")
            if mk:
                with open(base + ".expect", "w", encoding="utf-8") as f:
                    f.write(mk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
