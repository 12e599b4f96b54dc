# RFC 5321 4.5.3.2.7: 5 minutes waiting for a command, then 421 4.4.2.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
W: 299999
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
W: 299999
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
W: 300000
E: txn-abort reject=0
S: 421 4.4.2 mx.test Error: timeout exceeded
E: close
