# RFC 2920 3.1: DATA is a sync point. When DATA is refused, what a
# non-compliant client sends after it is read as commands (and refused).
@config max_errors=20
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<a@example.org>
C: DATA
C: Subject: oops
C: .
S: 250 2.1.0 Ok
S: 503 5.5.1 Error: need RCPT command
S: 502 5.5.2 Error: command not recognized
S: 502 5.5.2 Error: command not recognized
