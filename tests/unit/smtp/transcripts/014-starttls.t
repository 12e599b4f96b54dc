# With TLS available: STARTTLS announced; plaintext pipelined after it is
# discarded (RFC 3207 4.2, CVE-2011-0411); the HELO is forgotten.
@config starttls=1
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: EHLO c.example
E: helo c.example esmtp=1
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: STARTTLS extra
S: 501 5.5.4 Syntax: STARTTLS
C: STARTTLS
C: MAIL FROM:<injected@evil.example>
E: starttls
S: 220 2.0.0 Ready to start TLS
T:
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Error: send HELO/EHLO first
C: EHLO c.example
E: helo c.example esmtp=1
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: STARTTLS
S: 503 5.5.1 Error: TLS already active
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: txn-abort reject=0
E: close
