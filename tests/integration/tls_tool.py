#!/usr/bin/python3
"""tls_tool.py - STARTTLS conversations against mxgate for integration tests.

Each scenario connects to HOST:PORT, checks every reply, prints one summary
line and exits 0 on success, 1 on failure. Bounded by socket timeouts. The
server certificate is not verified (test certificates), except the name it
carries, which some scenarios print.

  tls_tool.py SCENARIO HOST PORT [SNI]
  scenarios: smtplib     Python smtplib: EHLO, starttls, EHLO, sendmail, quit
             injection   "STARTTLS\\r\\nRSET\\r\\n" in one segment (CVE-2011-0411):
                         the RSET must never be answered inside TLS
             encrypt     MAIL before STARTTLS: 530 5.7.0; after it: 250
             subject [SNI [CIPHER]]  print the served certificate's CN and key
                         (CIPHER: TLS 1.2 with that one suite)
             resume READY GO 1.2|1.3  a session, touch READY, wait for GO
                         (the daemon restarted), resume: print whether it was
             loop N      N handshakes back to back (or until $MX_LOOP_STOP
                         exists); print ok/failed counts
"""
import smtplib
import socket
import ssl
import sys


def ctx(sni_check=False):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        self.expect("220")

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                d = self.s.recv(4096)
                if not d:
                    raise RuntimeError("connection closed; got %r" % lines)
                self.buf += d
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode(errors="replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def expect(self, code, cmd=None):
        if cmd is not None:
            self.send(cmd + "\r\n")
        r = self.reply()
        if not r[-1].startswith(code):
            raise RuntimeError("%s: expected %s, got %r" % (cmd, code, r))
        return r

    def starttls(self, sni=None):
        self.expect("220", "STARTTLS")
        if self.buf:
            raise RuntimeError("octets after 220 to STARTTLS: %r" % self.buf)
        self.s = ctx().wrap_socket(self.s, server_hostname=sni)
        return self.s


def scen_smtplib(h, p, sni):
    s = smtplib.SMTP(h, p, timeout=10)
    s.ehlo("smtplib.example.org")
    if not s.has_extn("starttls"):
        raise RuntimeError("STARTTLS not advertised: %r" % s.esmtp_features)
    s.starttls(context=ctx())
    s.ehlo("smtplib.example.org")
    if s.has_extn("starttls"):
        raise RuntimeError("STARTTLS advertised again inside TLS")
    refused = s.sendmail("a@example.org", ["u@example.test"],
                         "Subject: smtplib over TLS\r\n\r\nhi\r\n")
    if refused:
        raise RuntimeError("refused: %r" % refused)
    ver, ciph = s.sock.version(), s.sock.cipher()[0]
    s.quit()
    return "Python smtplib starttls: %s %s, EHLO again without STARTTLS, 250 queued" % (ver, ciph)


def scen_injection(h, p, sni):
    c = Conn(h, p)
    c.expect("250", "EHLO inject.example.org")
    # The command and the injected one in one segment (CVE-2011-0411).
    c.send("STARTTLS\r\nRSET\r\n")
    r = c.reply()
    if not r[-1].startswith("220"):
        raise RuntimeError("STARTTLS: %r" % r)
    c.s = ctx().wrap_socket(c.s, server_hostname=sni)
    c.buf = b""
    # Inside TLS the first reply must be our EHLO's, not the RSET's 250.
    r = c.expect("250", "EHLO inject.example.org")
    if len(r) < 2:
        raise RuntimeError("EHLO inside TLS: single line %r (an answer to RSET?)" % r)
    if any("STARTTLS" in l for l in r):
        raise RuntimeError("STARTTLS advertised inside TLS: %r" % r)
    c.expect("250", "NOOP")
    c.expect("221", "QUIT")
    return "injection: RSET pipelined after STARTTLS discarded, EHLO answered first inside TLS"


def scen_encrypt(h, p, sni):
    c = Conn(h, p)
    c.expect("250", "EHLO enc.example.org")
    r = c.expect("530", "MAIL FROM:<a@example.org>")
    if "5.7.0" not in r[-1] or "STARTTLS" not in r[-1]:
        raise RuntimeError("MAIL before STARTTLS: %r" % r)
    c.starttls(sni)
    c.expect("503", "MAIL FROM:<a@example.org>")  # EHLO required again
    c.expect("250", "EHLO enc.example.org")
    c.expect("250", "MAIL FROM:<a@example.org>")
    c.expect("221", "QUIT")
    return "encrypt: MAIL before STARTTLS '%s', 503 before the new EHLO, 250 after" % r[-1]


def scen_subject(h, p, sni, cipher=None):
    c = Conn(h, p)
    c.expect("250", "EHLO subj.example.org")
    if cipher:
        # TLS 1.2 with one suite: its authentication picks the certificate.
        cx = ctx()
        cx.maximum_version = ssl.TLSVersion.TLSv1_2
        cx.set_ciphers(cipher)
        c.expect("220", "STARTTLS")
        c.s = s = cx.wrap_socket(c.s, server_hostname=sni)
    else:
        s = c.starttls(sni)
    der = s.getpeercert(binary_form=True)
    c.expect("250", "EHLO subj.example.org")
    c.expect("221", "QUIT")
    # The CN without an X.509 parser: the tests make certificates whose
    # CN is unique ascii; look it up in the DER.
    import subprocess
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-ext",
                          "subjectAltName"], input=der, capture_output=True).stdout.decode()
    txt = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text"], input=der,
                         capture_output=True).stdout.decode()
    alg = [l.split(":", 1)[1].strip() for l in txt.splitlines() if "Public Key Algorithm" in l]
    return "%s %s %s key=%s" % (s.version(), s.cipher()[0], " ".join(out.split()),
                                alg[0] if alg else "?")


def scen_loop(h, p, sni, n):
    """Until N handshakes or the file $MX_LOOP_STOP exists."""
    import os
    stop = os.environ.get("MX_LOOP_STOP")
    ok = failed = 0
    errs = []
    for _ in range(n):
        if stop and os.path.exists(stop):
            break
        try:
            c = Conn(h, p)
            c.expect("250", "EHLO loop.example.org")
            c.starttls(sni)
            c.expect("250", "EHLO loop.example.org")
            c.expect("221", "QUIT")
            c.s.close()
            ok += 1
        except Exception as e:  # noqa: BLE001 - counted and reported
            failed += 1
            errs.append(str(e))
    return ok, failed, errs[:3]


def scen_resume(h, p, sni, ready, go, maxv):
    """A session, then (after $go exists: the daemon restarted) another
    with its ticket. Prints whether it was resumed."""
    import os
    import time
    cx = ctx()
    if maxv == "1.2":
        cx.maximum_version = ssl.TLSVersion.TLSv1_2

    def one(session):
        c = Conn(h, p)
        c.expect("250", "EHLO resume.example.org")
        c.expect("220", "STARTTLS")
        c.s = cx.wrap_socket(c.s, server_hostname=sni, session=session)
        c.buf = b""
        c.expect("250", "EHLO resume.example.org")  # reads the TLS 1.3 tickets too
        c.expect("221", "QUIT")
        s = c.s.session
        reused = c.s.session_reused
        ver = c.s.version()
        c.s.unwrap() if False else c.s.close()
        return s, reused, ver

    s1, _, ver = one(None)
    open(ready, "w").close()
    for _ in range(600):
        if os.path.exists(go):
            break
        time.sleep(0.1)
    _, reused, _ = one(s1)
    return "%s session resumed after the restart: %s" % (ver, "yes" if reused else "no")


def main():
    scen, h, p = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        if scen == "loop":
            n = int(sys.argv[4])
            sni = sys.argv[5] if len(sys.argv) > 5 else None
            ok, failed, errs = scen_loop(h, p, sni, n)
            print("loop: %d ok %d failed %s" % (ok, failed, errs))
            return 0 if failed == 0 else 1
        if scen == "resume":
            out = scen_resume(h, p, None, sys.argv[4], sys.argv[5], sys.argv[6])
            print(out)
            return 0
        sni = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
        if scen == "subject" and len(sys.argv) > 5:
            print(scen_subject(h, p, sni, sys.argv[5]))
            return 0
        f = {"smtplib": scen_smtplib, "injection": scen_injection,
             "encrypt": scen_encrypt, "subject": scen_subject}[scen]
        print(f(h, p, sni))
        return 0
    except Exception as e:  # noqa: BLE001 - the test prints why
        print("%s: FAILED: %s" % (scen, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
