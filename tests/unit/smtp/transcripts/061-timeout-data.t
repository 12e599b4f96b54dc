# RFC 5321 4.5.3.2.5: 3 minutes per data block inside DATA.
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
C: DATA
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
W: 179000
C: line one
W: 179000
C: line two
W: 180000
E: txn-abort reject=0
S: 421 4.4.2 mx.test Error: timeout exceeded
E: close
