#!/usr/bin/env python3
"""ops_tool.py - clients for the operator's toolbox tests (issue 16).

  ops_tool.py sessions HOST PORT CTL SOCK   show sessions / kill session(s)
  ops_tool.py hold HOST PORT RELEASE        a transaction held until RELEASE exists
  ops_tool.py sink PORT SECONDS             a next hop that takes everything
  ops_tool.py notify PATH OUT SECONDS       a fake NOTIFY_SOCKET, datagrams to OUT
  ops_tool.py load HOST PORT SECONDS OUT    sequential messages, one per
                                            connection, over 4 threads, until
                                            the server refuses; every queue id
                                            that got 250 goes to OUT

Runs inside the test's network namespace; CTL is mxgatectl, SOCK its socket.
Prints one line per check; exit 1 at the first failure.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Client:
    """A raw SMTP client: every reply checked, the socket held open."""

    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)
        self.f = self.s.makefile("rb")
        self.port = self.s.getsockname()[1]
        self.banner = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                return (0, lines)
            lines.append(line.decode().rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return (int(line[:3]), lines)

    def cmd(self, text, want):
        self.s.sendall(text.encode() + b"\r\n")
        code, lines = self.reply()
        if code != want:
            fail("%s: expected %d, got %d %s" % (text, want, code, lines))
        return lines

    def closed(self):
        """After a kill: the 421 4.3.2 then EOF."""
        code, lines = self.reply()
        if code != 421 or "4.3.2" not in lines[-1]:
            fail("expected 421 4.3.2 from the kill, got %d %s" % (code, lines))
        if self.f.readline() != b"":
            fail("connection still open after the 421")
        self.s.close()
        return lines[-1]


def ctl(ctlbin, sock, *args):
    r = subprocess.run([ctlbin, "-s", sock] + list(args), capture_output=True, text=True)
    return r.returncode, r.stdout


def sessions(host, port, ctlbin, sock):
    a = Client(host, port)
    a.cmd("EHLO a.example.test", 250)
    a.cmd("MAIL FROM:<alice@example.org>", 250)
    a.cmd("RCPT TO:<u1@example.test>", 250)
    a.cmd("RCPT TO:<u2@example.test>", 250)
    b = Client(host, port)
    b.cmd("EHLO b.example.test", 250)
    c = Client(host, port)
    rc, out = ctl(ctlbin, sock, "show", "sessions", "json")
    if rc != 0:
        fail("show sessions json: " + out)
    j = json.loads(out)
    if j["count"] != 3 or len(j["sessions"]) != 3:
        fail("expected 3 sessions: " + out)
    by_port = {s["port"]: s for s in j["sessions"]}
    sa, sb, sc = by_port.get(a.port), by_port.get(b.port), by_port.get(c.port)
    if not (sa and sb and sc):
        fail("client ports %d %d %d not all listed: %s" % (a.port, b.port, c.port, out))
    exp = [(sa, "a.example.test", "rcpt", "<alice@example.org>", 2),
           (sb, "b.example.test", "ready", "", 0),
           (sc, "", "init", "", 0)]
    for s, helo, st, frm, rc_ in exp:
        if (s["client"], s["helo"], s["state"], s["from"], s["rcpts"]) != \
                ("198.18.0.1", helo, st, frm, rc_):
            fail("session fields: %s, expected helo %s state %s from %s rcpts %d"
                 % (s, helo, st, frm, rc_))
        if s["bytes_out"] <= 0 or s["age_ms"] < 0 or s["idle_ms"] > s["age_ms"] + 1 \
                or s["parked"] != "-" or s["tls"] is not False:
            fail("session counters: %s" % s)
    if not (sa["bytes_in"] > sb["bytes_in"] > sc["bytes_in"] == 0):
        fail("bytes_in not ordered by what each client sent: %s" % out)
    print("ok: show sessions json: 3 sessions, client/port/helo/state/from/rcpts/bytes right")
    rc, out = ctl(ctlbin, sock, "show", "sessions", "state", "ready")
    if rc != 0 or "sessions 1" not in out or ("client=198.18.0.1:%d " % b.port) not in out:
        fail("show sessions state ready: " + out)
    print("ok: show sessions state ready: " + out.splitlines()[0])
    rc, out = ctl(ctlbin, sock, "show", "sessions", "net", "10.0.0.0/8")
    if rc != 0 or out.strip() != "sessions 0":
        fail("show sessions net 10.0.0.0/8: " + out)
    rc, out = ctl(ctlbin, sock, "show", "sessions", "json", "net", "198.18.0.0/24")
    if rc != 0 or json.loads(out)["count"] != 3:
        fail("show sessions net 198.18.0.0/24: " + out)
    print("ok: net filters (10.0.0.0/8: 0, 198.18.0.0/24: 3)")

    rc, out = ctl(ctlbin, sock, "kill", "session", sb["id"])
    if rc != 0 or out.strip() != "killed 1":
        fail("kill session %s: %s" % (sb["id"], out))
    print("ok: kill session %s: %s: %s" % (sb["id"], out.strip(), b.closed()))
    rc, out = ctl(ctlbin, sock, "kill", "session", sb["id"])
    if rc != 1 or "no live session" not in out:
        fail("second kill of %s: %s" % (sb["id"], out))
    # The others are untouched: A finishes its message, C says EHLO.
    a.cmd("DATA", 354)
    lines = a.cmd("Subject: t\r\n\r\nbody\r\n.", 250)
    c.cmd("EHLO c.example.test", 250)
    for _ in range(50):  # the killed one leaves once its client closed too
        rc, out = ctl(ctlbin, sock, "show", "sessions", "json")
        ids = sorted(s["id"] for s in json.loads(out)["sessions"])
        if ids == sorted([sa["id"], sc["id"]]):
            break
        time.sleep(0.1)
    else:
        fail("after the kill: %s" % out)
    print("ok: the other two sessions live on (%s; %s)" % (lines[-1], ", ".join(ids)))
    rc, out = ctl(ctlbin, sock, "kill", "sessions", "198.18.0.1/32")
    if rc != 0 or out.strip() != "killed 2":
        fail("kill sessions 198.18.0.1/32: " + out)
    a.closed()
    c.closed()
    print("ok: kill sessions 198.18.0.1/32: killed 2, both got 421 4.3.2")


def load(host, port, seconds, outpath):
    end = time.time() + seconds
    qids, refused = [], [0]
    lock = threading.Lock()
    out = open(outpath, "w")  # one queue id a line as they come

    def worker(n):
        i = 0
        while time.time() < end:
            i += 1
            try:
                s = socket.create_connection((host, port), timeout=2)
            except OSError:
                with lock:
                    refused[0] += 1
                time.sleep(0.05)
                continue
            f = s.makefile("rb")

            def rep():
                code, last = 0, b""
                while True:
                    line = f.readline()
                    if not line:
                        return 0, ""
                    last = line
                    if line[3:4] != b"-":
                        return int(line[:3]), last.decode().strip()
            try:
                code, text = rep()
                if code != 220:
                    with lock:
                        refused[0] += 1
                    s.close()
                    time.sleep(0.05)
                    continue
                steps = [("EHLO load%d.example.test" % n, 250),
                         ("MAIL FROM:<l%d@example.org>" % n, 250),
                         ("RCPT TO:<u@example.test>", 250), ("DATA", 354),
                         ("Subject: %d-%d\r\n\r\nx\r\n." % (n, i), 250), ("QUIT", 221)]
                for cmd, want in steps:
                    s.sendall(cmd.encode() + b"\r\n")
                    code, text = rep()
                    if code == 250 and "queued as" in text:
                        with lock:
                            qids.append(text.split()[-1])
                            out.write(qids[-1] + "\n")
                            out.flush()
                    if code != want:
                        break
            except OSError:
                pass
            s.close()

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.close()
    print("load: %d messages 250 queued, %d connections refused" % (len(qids), refused[0]))


def hold(host, port, release):
    """One transaction held open in RCPT until the file RELEASE exists (at
    most 60 s; a drain must wait for it), then finished: prints the queue
    id of its 250, then the QUIT's."""
    a = Client(host, port)
    a.cmd("EHLO hold.example.test", 250)
    a.cmd("MAIL FROM:<hold@example.org>", 250)
    a.cmd("RCPT TO:<u@example.test>", 250)
    print("held", flush=True)
    for _ in range(600):
        if os.path.exists(release):
            break
        time.sleep(0.1)
    a.cmd("DATA", 354)
    lines = a.cmd("Subject: held\r\n\r\nx\r\n.", 250)
    print("queued " + lines[-1].split()[-1], flush=True)
    a.s.sendall(b"QUIT\r\n")
    code, lines = a.reply()
    print("quit " + (lines[-1] if lines else "(none)"), flush=True)


def notify_listen(path, outpath, seconds):
    """A fake service manager: every datagram on PATH appended to OUTPATH."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o777)
    s.settimeout(0.2)
    end = time.time() + seconds
    with open(outpath, "a") as f:
        while time.time() < end:
            try:
                d = s.recv(4096)
            except socket.timeout:
                continue
            f.write(d.decode().replace("\n", " ") + "\n")
            f.flush()


def sink(port, seconds):
    """A next hop that takes every message (no PIPELINING, no extensions)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    srv.settimeout(0.5)
    end = time.time() + seconds

    def serve(c):
        f = c.makefile("rb")
        c.sendall(b"220 sink ESMTP\r\n")
        data = False
        for line in f:
            if data:
                if line in (b".\r\n", b".\n"):
                    data = False
                    c.sendall(b"250 2.0.0 Ok\r\n")
                continue
            cmd = line[:4].upper()
            if cmd == b"DATA":
                data = True
                c.sendall(b"354 go\r\n")
            elif cmd == b"QUIT":
                c.sendall(b"221 bye\r\n")
                break
            else:
                c.sendall(b"250 ok\r\n")
        c.close()

    while time.time() < end:
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[1] == "sessions":
        sessions(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "hold":
        hold(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "sink":
        sink(int(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1] == "notify":
        notify_listen(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif sys.argv[1] == "load":
        load(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        fail("unknown mode " + sys.argv[1])
