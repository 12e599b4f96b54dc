# RFC 1870: a body over the limit is read to its end and refused with
# 552 5.3.4; the session goes on.
@config max_msg_size=100
@trace
@host data-end reply 250 2.0.0 Ok: queued as Q2
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
L: 20 0123456789\r\n
C: .
E: txn-abort reject=3
S: 552 5.3.4 Error: message size exceeds fixed limit
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
C: DATA
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
L: 8 0123456789\r\n
R: 01\r\n
C: .
E: data-end size=100 bdat=0 body=0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n01\r\n
S: 250 2.0.0 Ok: queued as Q2
E: close
