# RFC 5321 4.5.5: the null reverse path <> (bounces) is accepted; it is
# not a valid forward path.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<>
E: mail <>
S: 250 2.1.0 Ok
C: RCPT TO:<>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<b@example.org>
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
C: QUIT
E: txn-abort reject=0
S: 221 2.0.0 Bye
E: close
