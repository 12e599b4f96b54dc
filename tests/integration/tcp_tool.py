#!/usr/bin/python3
"""tcp_tool.py - kernel-side TCP clients for mxgate's integration tests.

Every mode is bounded in time and exits 0 on success, 1 on failure, printing
one summary line. Traffic goes only to the address given (a host in the
test's own namespace).

  echo-bulk HOST PORT BYTES        send BYTES (seeded random) while reading the
                                   echo; SHA-256 of both sides must match
  seq HOST PORT N                  N sequential connect/send/echo/close
  concurrent HOST PORT N           N connections open at once, each echoes
  slow-reader HOST PORT BYTES      a reader with a tiny receive buffer that
                                   stops reading for 3 s (zero window), then
                                   drains; data must be intact
  refused HOST PORT                connecting must be refused (RST)
  syn-flood IFACE SRC DST PORT N   N spoofed-port SYNs as fast as scapy can
"""
import hashlib
import os
import random
import selectors
import socket
import sys
import threading
import time

DEADLINE = time.monotonic() + float(os.environ.get("TCP_TOOL_TIMEOUT", "240"))


def left():
    t = DEADLINE - time.monotonic()
    if t <= 0:
        print("FAIL: time limit reached")
        sys.exit(1)
    return t


def connect(host, port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(min(10, left()))
    s.connect((host, port))
    return s


def echo_bulk(host, port, total, rcvbuf=None, pause=0.0):
    s = connect(host, port, rcvbuf)
    rnd = random.Random(1234)
    sent_hash = hashlib.sha256()
    got_hash = hashlib.sha256()
    got = 0
    err = []

    def sender():
        try:
            n = 0
            while n < total:
                chunk = rnd.randbytes(min(65536, total - n))
                sent_hash.update(chunk)
                s.sendall(chunk)
                n += len(chunk)
            s.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported below
            err.append("send: %r" % e)

    t = threading.Thread(target=sender, daemon=True)
    start = time.monotonic()
    t.start()
    if pause:
        time.sleep(pause)
    while True:
        s.settimeout(min(30, left()))
        try:
            b = s.recv(262144)
        except Exception as e:
            err.append("recv after %d bytes: %r" % (got, e))
            break
        if not b:
            break
        got_hash.update(b)
        got += len(b)
    t.join(timeout=left())
    s.close()
    el = time.monotonic() - start
    if err or got != total or got_hash.digest() != sent_hash.digest():
        print("FAIL: sent %d got %d sha256 %s/%s %s" % (total, got, sent_hash.hexdigest()[:16],
                                                       got_hash.hexdigest()[:16], err))
        return 1
    print("ok: %d bytes echoed intact in %.2f s (%.1f MB/s), sha256 %s" %
          (total, el, total / el / 1e6, got_hash.hexdigest()[:16]))
    return 0


def seq(host, port, n):
    bad = 0
    start = time.monotonic()
    for i in range(n):
        msg = b"conn %08d\n" % i
        try:
            s = connect(host, port)
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = s.recv(64)
                if not b:
                    break
                got += b
            s.close()
            if got != msg:
                bad += 1
        except Exception as e:
            bad += 1
            if bad < 5:
                print("conn %d: %r" % (i, e))
    el = time.monotonic() - start
    print("%s: %d sequential connections, %d failed, %.0f conn/s" %
          ("ok" if bad == 0 else "FAIL", n, bad, n / el))
    return 1 if bad else 0


def concurrent(host, port, n):
    sel = selectors.DefaultSelector()
    socks = {}
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        socks[s] = [b"client %06d\n" % i, b"", False]
        sel.register(s, selectors.EVENT_WRITE)
    done = 0
    while done < n and left() > 0:
        for key, ev in sel.select(timeout=min(1, left())):
            s = key.fileobj
            st = socks[s]
            if ev & selectors.EVENT_WRITE and not st[2]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    print("FAIL: connect error %d" % err)
                    return 1
                s.send(st[0])
                st[2] = True
                sel.modify(s, selectors.EVENT_READ)
            elif ev & selectors.EVENT_READ:
                b = s.recv(64)
                st[1] += b
                if len(st[1]) >= len(st[0]) or not b:
                    sel.unregister(s)
                    done += 1
    bad = sum(1 for s, st in socks.items() if st[1] != st[0])
    for s in socks:
        s.close()
    print("%s: %d concurrent connections, %d echoed, %d wrong or missing" %
          ("ok" if bad == 0 else "FAIL", n, n - bad, bad))
    return 1 if bad else 0


def refused(host, port):
    try:
        connect(host, port).close()
    except ConnectionRefusedError:
        print("ok: connection to port %d refused (RST)" % port)
        return 0
    except Exception as e:
        print("FAIL: expected a refusal, got %r" % e)
        return 1
    print("FAIL: connection to a closed port was accepted")
    return 1


def syn_flood(iface, src, dst, port, n):
    from scapy.all import Ether, IP, TCP, conf, get_if_hwaddr, sendp, getmacbyip  # noqa
    conf.verb = 0
    dmac = os.environ["MX_MAC"]
    smac = get_if_hwaddr(iface)
    rnd = random.Random(7)
    pkts = [Ether(src=smac, dst=dmac) / IP(src=src, dst=dst) /
            TCP(sport=rnd.randint(10000, 60000), dport=port, flags="S",
                seq=rnd.randint(0, 2**32 - 1), options=[("MSS", 1460)])
            for _ in range(n)]
    start = time.monotonic()
    sendp(pkts, iface=iface)
    print("ok: %d SYNs sent in %.2f s" % (n, time.monotonic() - start))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    m, a = argv[1], argv[2:]
    if m == "echo-bulk":
        return echo_bulk(a[0], int(a[1]), int(a[2]))
    if m == "seq":
        return seq(a[0], int(a[1]), int(a[2]))
    if m == "concurrent":
        return concurrent(a[0], int(a[1]), int(a[2]))
    if m == "slow-reader":
        return echo_bulk(a[0], int(a[1]), int(a[2]), rcvbuf=4096, pause=3.0)
    if m == "refused":
        return refused(a[0], int(a[1]))
    if m == "syn-flood":
        return syn_flood(a[0], a[1], a[2], int(a[3]), int(a[4]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
