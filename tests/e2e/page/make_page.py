#!/usr/bin/env python3
"""make_page.py OUTDIR — the browser test's page: index.html with many
sub-resources (PNG images, scripts, style sheets, and one 1 MiB binary fetched
by check.js), written to OUTDIR with the list of every path the browser must
request (OUTDIR/expected.txt, one per line, each exactly once).

Every resource carries something check.js verifies once the page has loaded:
each image's width (image i is i+1 pixels wide), each script's flag, each
style sheet's rule, and the 1 MiB body's length and FNV-1a hash; check.js
writes the verdict into the DOM (#result), which --dump-dom prints.
"""
import os
import shutil
import struct
import sys
import zlib

N_IMG, N_JS, N_CSS = 20, 15, 15
BIG = "/gen/1M?seed=chromium"


def png(width, height, seed):
    rows = b""
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes([(x * 7 + seed * 13) & 255, (y * 11 + seed) & 255, (seed * 29) & 255])
        rows += bytes(row)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    for d in ("img", "js", "css"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    expected = ["/index.html", "/check.js", BIG]
    head, body = [], []
    for i in range(1, N_CSS + 1):
        with open(os.path.join(out, "css", "%d.css" % i), "w") as f:
            f.write("#css%d { width: %dpx; height: 1px; }\n" % (i, 100 + i))
        head.append('<link rel="stylesheet" href="/css/%d.css">' % i)
        body.append('<div id="css%d"></div>' % i)
        expected.append("/css/%d.css" % i)
    for i in range(1, N_IMG + 1):
        with open(os.path.join(out, "img", "%d.png" % i), "wb") as f:
            f.write(png(i + 1, 3, i))
        body.append('<img id="img%d" src="/img/%d.png" alt="">' % (i, i))
        expected.append("/img/%d.png" % i)
    for i in range(1, N_JS + 1):
        with open(os.path.join(out, "js", "%d.js" % i), "w") as f:
            f.write("window.__js = window.__js || {};\nwindow.__js[%d] = 'js%d-ok';\n" % (i, i))
        body.append('<script src="/js/%d.js"></script>' % i)
        expected.append("/js/%d.js" % i)
    shutil.copy(os.path.join(here, "check.js"), os.path.join(out, "check.js"))
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>e2e page</title>\n"
                '<link rel="icon" href="data:,">\n%s\n</head><body>\n<h1>phantom e2e</h1>\n%s\n'
                '<script>window.__expect = {img: %d, js: %d, css: %d, big: "%s"};</script>\n'
                '<script src="/check.js"></script>\n<pre id="result">RESULT pending</pre>\n'
                "</body></html>\n" % ("\n".join(head), "\n".join(body), N_IMG, N_JS, N_CSS, BIG))
    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write("\n".join(expected) + "\n")


if __name__ == "__main__":
    main()
