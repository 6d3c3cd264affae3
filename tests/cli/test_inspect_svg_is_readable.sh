#!/usr/bin/env bash
# faultmap inspect --svg draws a picture that can be read: the SVG parses
# (python3's XML parser); no shape is drawn over the page grid's cells (the
# shapes that show which pages each vma maps stay off the grid); a legend
# names every colour the cells use and the vma colours; the header gives the
# budget in bytes (the pages the text output shows, times 4096); and
# rsvg-convert, where installed (Debian: librsvg2-bin), renders it to a PNG
# of the SVG's size.
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
start_published_mapper
pid=$BG_PID
expect_exit 0 "$FM" inspect "$pid" --svg "$TMP/pic.svg"
pages=$(sed -n 's/^process [0-9]*: budget \([0-9]*\) pages.*/\1/p' "$TMP/out")
[ -n "$pages" ] || fail "no budget in the text output"
"$PY" - "$TMP/pic.svg" "$pages" <<'PYEOF' || fail "the SVG is not readable"
import re, sys
import xml.etree.ElementTree as ET

path, budget_pages = sys.argv[1], int(sys.argv[2])
root = ET.parse(path).getroot()  # raises if it is not well-formed XML
ns = '{http://www.w3.org/2000/svg}'
def bbox(e):
    tag = e.tag[len(ns):]
    if tag == 'rect':
        x, y = float(e.get('x', 0)), float(e.get('y', 0))
        return x, y, x + float(e.get('width')), y + float(e.get('height'))
    if tag == 'polygon' or tag == 'polyline':
        pts = [tuple(map(float, p.split(','))) for p in e.get('points').split()]
        return min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts)
    if tag == 'line':
        xs, ys = (float(e.get('x1')), float(e.get('x2'))), (float(e.get('y1')), float(e.get('y2')))
        return min(xs), min(ys), max(xs), max(ys)
    return None
shapes = [e for e in root.iter() if e.tag[len(ns):] in ('rect', 'polygon', 'polyline', 'line', 'path', 'circle', 'ellipse')]
def title(e):
    t = e.find(ns + 'title')
    return t.text if t is not None else ''
cells = [e for e in shapes if re.match(r'pages \d+-\d+: .$', title(e))]
if not cells:
    sys.exit('no page cells')
others = [e for e in shapes if e not in cells and e.get('width') != '100%' and e.get('fill') != 'none']
for e in others:
    b = bbox(e)
    if b is None:
        sys.exit('a %s is drawn (cannot check it stays off the grid)' % e.tag)
    for c in cells:
        cb = bbox(c)
        if b[0] < cb[2] and cb[0] < b[2] and b[1] < cb[3] and cb[1] < b[3]:
            sys.exit('a %s at %s covers the cell %s' % (e.tag[len(ns):], b, title(c)))
texts = [''.join(t.itertext()) for t in root.iter(ns + 'text')]
top = min(bbox(c)[1] for c in cells)
legend = {e.get('fill') for e in others if bbox(e)[3] < top and e.get('fill')}
for fill in {c.get('fill') for c in cells}:
    if fill not in legend:
        sys.exit('the legend lacks the cell colour %s' % fill)
for words in ('not cached', 'resident', 'partly resident', 'dirty', 'being read', 'shared vma', 'private vma'):
    if words not in texts:
        sys.exit('the legend lacks "%s"' % words)
m = [re.search(r'budget (\d+) bytes \(.*, (\d+) pages\)', t) for t in texts]
m = [x for x in m if x]
if not m:
    sys.exit('no budget in bytes')
if int(m[0].group(1)) != budget_pages * 4096 or int(m[0].group(2)) != budget_pages:
    sys.exit('budget %s bytes, %s pages; the text output says %d pages' % (m[0].group(1), m[0].group(2), budget_pages))
PYEOF
if command -v rsvg-convert >/dev/null; then
	rsvg-convert "$TMP/pic.svg" -o "$TMP/pic.png" 2>"$TMP/out" || { cat "$TMP/out"; fail "rsvg-convert cannot render the SVG"; }
	size=$("$PY" -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(*struct.unpack(">II", d[16:24]))' "$TMP/pic.png")
	want=$(sed -n "s/^<svg .* width='\([0-9]*\)' height='\([0-9]*\)'.*/\1 \2/p" "$TMP/pic.svg")
	[ "$size" = "$want" ] || fail "the PNG is $size, the SVG $want"
fi
exit 0
