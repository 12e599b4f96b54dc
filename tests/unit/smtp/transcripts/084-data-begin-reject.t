# The host refuses DATA (e.g. spool full: 452 4.3.1): the transaction ends.
@trace
@host data-begin reply 452 4.3.1 Insufficient system storage
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.org>
C: DATA
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=0
S: 452 4.3.1 Insufficient system storage
E: txn-abort reject=0
C: RCPT TO:<b@example.org>
S: 503 5.5.1 Error: need MAIL command
E: close
