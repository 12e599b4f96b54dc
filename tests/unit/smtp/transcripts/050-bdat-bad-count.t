# RFC 3030 2: without a valid count the octets that follow cannot be
# delimited: 501, then the session is closed (never resync on body bytes).
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
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
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
C: BDAT x12
C: MAIL FROM:<smuggled@example.org>
S: 501 5.5.4 Syntax: BDAT count [LAST]
S: 421 4.5.0 mx.test Error: BDAT framing lost, closing
E: txn-abort reject=0
E: close
