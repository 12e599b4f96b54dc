# RFC 5321 4.1.4: EHLO in a transaction resets it like RSET.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
C: HELO c2.example
E: txn-abort reject=0
E: helo c2.example esmtp=0
S: 250 mx.test
C: RCPT TO:<b@example.org>
S: 503 5.5.1 Error: need MAIL command
E: close
