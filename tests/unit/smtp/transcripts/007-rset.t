# RSET aborts the transaction and keeps the HELO; RSET takes no argument.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: RSET
S: 250 2.0.0 Ok
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Error: send HELO/EHLO first
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
C: RSET now
S: 501 5.5.4 Syntax: RSET
C: RSET
E: txn-abort reject=0
S: 250 2.0.0 Ok
C: RCPT TO:<b@example.org>
S: 503 5.5.1 Error: need MAIL command
C: MAIL FROM:<a2@example.org>
E: mail <a2@example.org>
S: 250 2.1.0 Ok
E: txn-abort reject=0
E: close
