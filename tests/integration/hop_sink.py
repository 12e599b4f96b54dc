#!/usr/bin/python3
"""hop_sink.py - a scriptable SMTP next hop for the queue's integration tests.

  hop_sink.py HOST PORT DIR [--reject SUBSTR] [--delay-ms N] [--max-conns N]

Accepts SMTP (EHLO with PIPELINING, or HELO), answers
"550 5.1.1 <addr>: Recipient address rejected: User unknown" at RCPT for
every address containing SUBSTR, waits N ms before answering the final dot
(a throttled next hop), and stores each accepted message as DIR/<n>.eml:
"MAIL FROM:<...>" and "RCPT TO:<...>" lines, an empty line, then the data
(dot-unstuffed). A file is complete once renamed from .tmp. One thread per
connection; bounded by socket timeouts.
"""
import itertools
import os
import socket
import sys
import threading
import time

counter = itertools.count(1)
lock = threading.Lock()


def serve(c, outdir, reject, delay):
    c.settimeout(60)
    f = c.makefile("rb")
    say = lambda s: c.sendall(s.encode() + b"\r\n")
    say("220 hop.test ESMTP sink")
    mail, rcpts = None, []
    while True:
        line = f.readline(4096)
        if not line:
            return
        cmd = line.decode("latin-1").rstrip("\r\n")
        up = cmd.upper()
        if up.startswith("EHLO"):
            say("250-hop.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 DSN")
        elif up.startswith("HELO") or up.startswith("NOOP"):
            say("250 ok")
        elif up.startswith("MAIL FROM:"):
            mail, rcpts = cmd, []
            say("250 2.1.0 ok")
        elif up.startswith("RCPT TO:"):
            addr = cmd[8:].split(">")[0].lstrip(" <")
            if reject and reject in addr:
                say("550 5.1.1 <%s>: Recipient address rejected: User unknown" % addr)
            else:
                rcpts.append(cmd)
                say("250 2.1.5 ok")
        elif up == "DATA":
            if not rcpts:
                say("554 5.5.1 no valid recipients")
                continue
            say("354 go ahead")
            data = []
            while True:
                l = f.readline(1 << 20)
                if not l:
                    return
                if l in (b".\r\n", b".\n"):
                    break
                data.append(l[1:] if l.startswith(b".") else l)
            if delay:
                time.sleep(delay / 1000.0)
            n = next(counter)
            tmp = os.path.join(outdir, "%d.tmp" % n)
            with open(tmp, "wb") as o:
                o.write(mail.encode() + b"\n")
                for r in rcpts:
                    o.write(r.encode() + b"\n")
                o.write(b"\n")
                o.writelines(data)
            os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
            say("250 2.0.0 Ok: stored as %d" % n)
            mail, rcpts = None, []
        elif up == "RSET":
            mail, rcpts = None, []
            say("250 ok")
        elif up == "QUIT":
            say("221 bye")
            return
        else:
            say("502 5.5.2 unknown command")


def main():
    host, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    args = sys.argv[4:]
    reject, delay = None, 0
    while args:
        k, v = args[0], args[1]
        args = args[2:]
        if k == "--reject":
            reject = v
        elif k == "--delay-ms":
            delay = int(v)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    while True:
        c, _ = s.accept()

        def run(c=c):
            try:
                serve(c, outdir, reject, delay)
            except OSError:
                pass
            finally:
                c.close()

        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
