#!/usr/bin/python3
"""smtp_tool.py - SMTP conversations against mxgate for integration tests.

Each scenario connects to HOST:PORT (a host in the test's own namespace),
checks every reply it gets, prints one summary line and exits 0 on success,
1 on failure. All bounded by socket timeouts.

  smtp_tool.py SCENARIO HOST PORT
  scenarios: basic pipelining bdat smuggling longline pregreet smtplib
             finhold
"""
import smtplib
import socket
import struct
import sys
import time

import os

# The expected answer at end of data: 250 with a spool (the default of the
# tests), 451 when the daemon runs without one (MX_EOD=451).
EOD = os.environ.get("MX_EOD", "250")


class Conn:
    def __init__(self, host, port, banner=True):
        self.s = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        if banner:
            self.expect("220")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n")

    def reply(self):
        """One (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                b = self.s.recv(65536)
                if not b:
                    raise EOFError("connection closed after %r" % lines)
                self.buf += b
            line, self.buf = self.buf.split(b"\r\n", 1)
            line = line.decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return line[:3], lines

    def expect(self, code, what=""):
        c, lines = self.reply()
        if not lines[-1].startswith(code):
            raise AssertionError("%s: expected %s, got %s" % (what or "reply", code, lines))
        return lines

    def closed(self):
        try:
            self.s.settimeout(5)
            return self.s.recv(1) == b""
        except OSError:
            return True


def basic(h, p):
    c = Conn(h, p)
    c.cmd("EHLO client.example.org")
    lines = c.expect("250", "EHLO")
    exts = {l[4:].split()[0] for l in lines[1:]}
    for e in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8", "DSN"):
        assert e in exts, "EHLO lacks %s: %s" % (e, lines)
    assert "STARTTLS" not in exts, "STARTTLS advertised before TLS exists"
    c.cmd("MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME")
    c.expect("250 2.1.0", "MAIL")
    c.cmd("RCPT TO:<u@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@example.test")
    c.expect("250 2.1.5", "RCPT")
    c.cmd("MAIL FROM:<b@example.org>")
    c.expect("503 5.5.1", "nested MAIL")
    c.cmd("RCPT TO:<u@example.test> FOO=BAR")
    c.expect("555 5.5.4", "unknown RCPT parameter")
    c.cmd("DATA")
    c.expect("354", "DATA")
    c.send("Subject: basic\r\n\r\n..leading dot\r\nbody\r\n.\r\n")
    c.expect(EOD, "end of data")
    c.cmd("NOOP")
    c.expect("250", "NOOP")
    c.cmd("VRFY u@example.test")
    c.expect("252", "VRFY")
    c.cmd("QUIT")
    c.expect("221 2.0.0", "QUIT")
    assert c.closed(), "not closed after QUIT"
    return "EHLO extensions, MAIL/RCPT parameters, DATA -> %s, NOOP, VRFY, QUIT" % EOD


def pipelining(h, p):
    c = Conn(h, p)
    c.cmd("EHLO client.example.org")
    c.expect("250")
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<u1@example.test>\r\nRCPT TO:<>\r\n"
           "RCPT TO:<u2@example.test>\r\nDATA\r\n")
    codes = [c.reply()[0] for _ in range(5)]
    assert codes == ["250", "250", "501", "250", "354"], "pipelined replies out of order: %s" % codes
    c.send("Subject: p\r\n\r\nx\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    codes = [c.reply()[0] for _ in range(4)]
    assert codes == [EOD, "250", "250", "221"], "after data: %s" % codes
    return "5 pipelined commands answered in order (250 250 501 250 354), then %s 250 250 221" % EOD


def bdat(h, p):
    c = Conn(h, p)
    c.cmd("EHLO client.example.org")
    c.expect("250")
    c.cmd("MAIL FROM:<a@example.org>")
    c.expect("250")
    c.cmd("RCPT TO:<u@example.test>")
    c.expect("250")
    body1 = b"Subject: bdat\r\n\r\nfirst chunk with a bare\nLF is binary-exact\r\n"
    body1 = b"Subject: bdat\r\n\r\nfirst chunk\r\n"
    c.send(b"BDAT %d\r\n" % len(body1) + body1)
    c.expect("250", "BDAT chunk")
    body2 = b".a line starting with a dot is not unstuffed in BDAT\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(body2) + body2)
    c.expect(EOD, "BDAT LAST")
    c.cmd("MAIL FROM:<a@example.org>")
    c.expect("250")
    c.cmd("RCPT TO:<u@example.test>")
    c.expect("250")
    c.send(b"BDAT 5\r\nhello")
    c.expect("250", "BDAT 5")
    c.cmd("DATA")
    c.expect("503", "DATA after BDAT")
    c.cmd("BDAT 0 LAST")
    c.expect(EOD, "BDAT 0 LAST")
    c.cmd("QUIT")
    c.expect("221")
    return "BDAT chunks, BDAT LAST and BDAT 0 LAST -> %s; DATA inside a BDAT transaction -> 503" % EOD


SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r", b"\r\n.\n", b"\r.\n", b"\n.\r"]


def smuggling(h, p):
    """SEC Consult 2023: a fake end of data followed by a second transaction
    must never be taken as one; the only end of data is CRLF.CRLF."""
    for v in SMUGGLE:
        c = Conn(h, p)
        c.cmd("EHLO client.example.org")
        c.expect("250")
        c.cmd("MAIL FROM:<a@example.org>")
        c.expect("250")
        c.cmd("RCPT TO:<u@example.test>")
        c.expect("250")
        c.cmd("DATA")
        c.expect("354")
        c.send(b"Subject: smuggle\r\n\r\nhello" + v +
               b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
        # Everything up to here is ONE message body containing a bare CR/LF.
        code, lines = c.reply()
        assert code == "554", "variant %r: end of data answered %s" % (v, lines)
        c.cmd("QUIT")
        code, lines = c.reply()
        assert code == "221", "variant %r: a smuggled command was answered: %s" % (v, lines)
    return "%d bare CR/LF end-of-data variants: each one message, refused 554, nothing smuggled" % len(SMUGGLE)


def longline(h, p):
    c = Conn(h, p)
    c.cmd("EHLO client.example.org")
    c.expect("250")
    c.cmd("NOOP " + "x" * 2000)
    c.expect("500 5.5.2", "over-long command line")
    c.cmd("MAIL FROM:<" + "a" * 300 + "@example.org>")
    c.expect("5", "over-long path")
    c.cmd("NOOP")
    c.expect("250", "NOOP after the long line")
    c.cmd("MAIL FROM:<a@example.org>")
    c.expect("250")
    c.cmd("RCPT TO:<u@example.test>")
    c.expect("250")
    c.cmd("DATA")
    c.expect("354")
    c.send(b"Subject: long\r\n\r\n" + b"y" * 1500 + b"\r\n.\r\n")
    c.expect("552 5.3.4", "text line over 1000 octets")
    c.cmd("QUIT")
    c.expect("221")
    return "2000-octet command -> 500 5.5.2, 300-octet path refused, session stays sane; 1500-octet text line -> 552 5.3.4"


def pregreet(h, p):
    c = Conn(h, p, banner=False)
    c.cmd("EHLO too.early.example.org")
    code, lines = c.reply()
    # With the teaser (the default) "220-host ESMTP" comes first, then the
    # refusal: one reply to the parser, its last line is ours.
    assert code == "550" and "5.5.1 Protocol error" in lines[-1], "pregreet answered %s" % lines
    assert c.closed(), "pregreeting client not disconnected"
    return "client talking before the banner -> %s, disconnected" % " | ".join(lines)


def tcp_state(s):
    """The kernel's TCP state of socket @s (tcpi_state: 7 CLOSE, 8 CLOSE_WAIT)."""
    return struct.unpack("B", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[:1])[0]


def finhold(h, p):
    """QUIT, read the 221 and mxgate's FIN, then never close our side: mxgate
    must reset the connection after its linger ([smtp] linger_ms) instead of
    keeping the session slot for ever. Bounded by 30 s (the linger is 2 s)."""
    c = Conn(h, p)
    c.cmd("QUIT")
    c.expect("221", "QUIT")
    assert c.s.recv(1) == b"", "no FIN after the 221"
    st = tcp_state(c.s)
    assert st == 8, "after mxgate's FIN: state %d, not CLOSE_WAIT" % st
    for _ in range(300):
        st = tcp_state(c.s)
        if st == 7:
            break
        time.sleep(0.1)
    assert st == 7, "still state %d: mxgate kept the half-closed connection" % st
    err = c.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    c.s.close()
    return "QUIT, 221, FIN, our side held open -> reset by mxgate after its linger (so_error %d)" % err


def smtplib_client(h, p):
    s = smtplib.SMTP(h, p, timeout=10)
    code, _ = s.ehlo("smtplib.example.org")
    assert code == 250
    assert s.has_extn("pipelining") and s.has_extn("size")
    if EOD == "250":
        refused = s.sendmail("a@example.org", ["u@example.test"], "Subject: smtplib\r\n\r\nhi\r\n")
        assert not refused, refused
        s.quit()
        return "Python smtplib: EHLO 250, sendmail accepted (250 queued), quit"
    try:
        s.sendmail("a@example.org", ["u@example.test"], "Subject: smtplib\r\n\r\nhi\r\n")
        raise AssertionError("message accepted without a spool")
    except smtplib.SMTPDataError as e:
        assert e.smtp_code == 451, e
    s.quit()
    return "Python smtplib: EHLO 250, sendmail -> SMTPDataError 451 (not stored), quit"


SCEN = {"basic": basic, "pipelining": pipelining, "bdat": bdat, "smuggling": smuggling,
        "longline": longline, "pregreet": pregreet, "smtplib": smtplib_client,
        "finhold": finhold}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in SCEN:
        print(__doc__)
        sys.exit(2)
    try:
        print(SCEN[sys.argv[1]](sys.argv[2], int(sys.argv[3])))
    except Exception as e:
        print("FAIL: %s: %s" % (sys.argv[1], e))
        sys.exit(1)
