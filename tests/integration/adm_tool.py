#!/usr/bin/python3
"""adm_tool.py - connection admission checks against mxgate (admission.sh).

  adm_tool.py hold SRC N HOST PORT UNTIL
      Open N connections one after another from source address SRC, read
      the first reply line of each (the 220 banner, or a 421 refusal after
      which mxgate closes), print one JSON line {"220": n, "421": n,
      "texts": [distinct 421 lines]} and flush; then keep the admitted
      ones open until file UNTIL exists (at most 120 s), and end each with
      QUIT (221 expected). Exit 0, or 1 if a reply was neither.
  adm_tool.py session SRC HOST PORT
      One full session from SRC (EHLO, MAIL, RCPT, DATA, QUIT): prints the
      end-of-data reply; exit 0 if it is 250.
All socket operations are bounded by timeouts.
"""
import json
import os
import socket
import sys
import time


def line(s, buf):
    while b"\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return None, buf
        buf += d
    i = buf.index(b"\r\n")
    return buf[:i].decode(), buf[i + 2:]


def reply(s, buf):
    """A whole (multi-line) reply: its last line."""
    while True:
        l, buf = line(s, buf)
        if l is None or len(l) < 4 or l[3] != "-":
            return l, buf


def connect(src, host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect((host, port))
    return s


def hold(src, n, host, port, until):
    held, counts, texts, bad = [], {"220": 0, "421": 0}, [], []
    for _ in range(n):
        s = connect(src, host, port)
        l, buf = line(s, b"")
        code = (l or "")[:3]
        if code == "220":
            counts["220"] += 1
            held.append((s, buf))
            continue
        if code == "421":
            counts["421"] += 1
            if l not in texts:
                texts.append(l)
        else:
            bad.append(l)
        s.close()
    print(json.dumps({"220": counts["220"], "421": counts["421"], "texts": texts, "bad": bad}),
          flush=True)
    deadline = time.time() + 120
    while not os.path.exists(until) and time.time() < deadline:
        time.sleep(0.1)
    for s, buf in held:
        s.sendall(b"QUIT\r\n")
        l, buf = reply(s, buf)
        if not l or not l.startswith("221"):
            bad.append("QUIT: %r" % l)
        s.close()
    if bad:
        print("unexpected replies: %r" % bad, file=sys.stderr)
        return 1
    return 0


def session(src, host, port):
    s = connect(src, host, port)
    buf = b""
    for cmd, want in ((None, "220"), (b"EHLO adm.test\r\n", "250"),
                      (b"MAIL FROM:<s@example.org>\r\n", "250"),
                      (b"RCPT TO:<u@example.test>\r\n", "250"), (b"DATA\r\n", "354"),
                      (b"Subject: adm\r\n\r\nbody\r\n.\r\n", "250"), (b"QUIT\r\n", "221")):
        if cmd:
            s.sendall(cmd)
        l, buf = reply(s, buf)
        if not l or not l.startswith(want):
            print("%s: expected %s, got %r" % (cmd, want, l))
            return 1
        if want == "250" and cmd and cmd.startswith(b"Subject"):
            print(l)
    s.close()
    return 0


def main(a):
    if len(a) == 6 and a[0] == "hold":
        return hold(a[1], int(a[2]), a[3], int(a[4]), a[5])
    if len(a) == 4 and a[0] == "session":
        return session(a[1], a[2], int(a[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
