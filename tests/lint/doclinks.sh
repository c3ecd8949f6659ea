#!/bin/sh
# The documentation's links hold: every relative link in README.md and in
# docs/ (a Markdown link [text](target), outside code) names a file or
# directory that exists, and a link with a #section names a heading the
# target page has (GitHub's anchors: lowercase, punctuation dropped, spaces
# as hyphens). Every page under docs/ must be reachable from README.md by
# such links, so no page is orphaned. Web links are not fetched.
#
# Prints each broken link as FILE:LINE and exits 1 if there is one.
# Usage: tests/lint/doclinks.sh [ROOT]   (ROOT defaults to the repository)
set -eu
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
exec python3 - "$root" <<'PY'
import os, re, sys

root = os.path.realpath(sys.argv[1])
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
FENCE = re.compile(r'^\s*(```|~~~)')


def prose_lines(path):
    """(line number, text) of every line outside fenced code, inline code removed."""
    out, fenced = [], False
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                out.append((n, re.sub(r'`[^`]*`', '``', line)))
    return out


def anchors(path):
    """GitHub's anchors for the headings of a Markdown page."""
    seen, result, fenced = {}, set(), False
    with open(path, encoding='utf-8') as f:
        for line in f:
            if FENCE.match(line):
                fenced = not fenced
                continue
            m = None if fenced else re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
            if not m:
                continue
            text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', m.group(1))  # a link's text only
            slug = re.sub(r'[^\w\- ]', '', text.lower().replace('`', '')).replace(' ', '-')
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            result.add(slug if n == 0 else '%s-%d' % (slug, n))
    return result


pages = ['README.md']
for d, _, files in os.walk(os.path.join(root, 'docs')):
    pages += sorted(os.path.relpath(os.path.join(d, f), root) for f in files if f.endswith('.md'))

bad, links_out, checked = [], {}, 0
for page in pages:
    path = os.path.join(root, page)
    links_out[page] = set()
    for n, line in prose_lines(path):
        for target in LINK.findall(line):
            if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):  # http:, https:, mailto:
                continue
            checked += 1
            file_part, _, anchor = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            where = '%s:%d: (%s)' % (page, n, target)
            if not os.path.realpath(dest).startswith(root + os.sep) and os.path.realpath(dest) != root:
                bad.append('%s points outside the repository' % where)
            elif not os.path.exists(dest):
                bad.append('%s: no such file or directory' % where)
            elif anchor and dest.endswith('.md') and anchor not in anchors(dest):
                bad.append('%s: %s has no heading with the anchor #%s'
                           % (where, os.path.relpath(dest, root), anchor))
            elif dest.endswith('.md'):
                links_out[page].add(os.path.relpath(dest, root))

reached, todo = {'README.md'}, ['README.md']
while todo:
    for nxt in links_out.get(todo.pop(), ()):
        if nxt not in reached:
            reached.add(nxt)
            todo.append(nxt)
for page in pages:
    if page not in reached:
        bad.append('%s: not reachable by links from README.md' % page)

for b in bad:
    print(b)
if bad:
    print('doclinks: %d broken link(s) or orphaned page(s) in README.md and docs/' % len(bad), file=sys.stderr)
    sys.exit(1)
print('doclinks: %d pages, %d relative links, all resolve; every page reachable from README.md'
      % (len(pages), checked))
PY
