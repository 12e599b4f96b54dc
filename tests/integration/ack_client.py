#!/usr/bin/python3
"""ack_client.py HOST PORT TAG SECONDS THREADS SIZE OUTFILE

Sends messages as fast as it can for up to SECONDS over THREADS sessions;
each message carries a unique token "TAG-thread-n" in its Subject and body.
For every message whose end of data got a 250, the token and the queue id
are appended to OUTFILE (one line, flushed at once): the list of what the
server acknowledged. Connection errors (the server being killed) end the
thread quietly. Counts are printed at the end.
"""
import socket
import sys
import threading
import time

host, port, tag, secs, nthreads, size, outfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
deadline = time.monotonic() + secs
lock = threading.Lock()
out = open(outfile, "a")
stats = {"acked": 0, "tempfail": 0, "errors": 0}


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise EOFError
        if line[3:4] != b"-":
            return line.decode(errors="replace").strip()


def worker(t):
    n = 0
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection((host, port), timeout=5)
            f = s.makefile("rb")
            reply(f)
            s.sendall(b"EHLO ack.example.org\r\n")
            reply(f)
            while time.monotonic() < deadline:
                tok = "%s-%d-%d" % (tag, t, n)
                n += 1
                body = ("Subject: %s\r\n\r\n%s\r\n" % (tok, tok)) + ("x" * 70 + "\r\n") * (size // 72)
                s.sendall(b"MAIL FROM:<ack@example.org>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n")
                r1, r2, r3 = reply(f), reply(f), reply(f)
                if not r3.startswith("354"):
                    stats["tempfail"] += 1
                    s.sendall(b"RSET\r\n")
                    reply(f)
                    time.sleep(0.05)
                    continue
                s.sendall(body.encode() + b".\r\n")
                r = reply(f)
                if r.startswith("250"):
                    with lock:
                        out.write("%s %s\n" % (tok, r.split()[-1]))
                        out.flush()
                        stats["acked"] += 1
                else:
                    stats["tempfail"] += 1
                    time.sleep(0.05)
        except (OSError, EOFError):
            stats["errors"] += 1
            time.sleep(0.1)


ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(nthreads)]
for t in ts:
    t.start()
for t in ts:
    t.join(timeout=secs + 15)
print("acked %d tempfail %d conn_errors %d" % (stats["acked"], stats["tempfail"], stats["errors"]))
