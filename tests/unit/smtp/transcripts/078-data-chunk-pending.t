# The spool may push back on body chunks (PENDING): input stops after the
# chunk and resumes on the answer; the body is complete and exact.
@trace
@host data-chunk pending
@host data-end reply 250 2.0.0 Ok: queued as P
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
C: ab
C: .
@host data-chunk accept
A: 0
E: data-end size=4 bdat=0 body=ab\r\n
S: 250 2.0.0 Ok: queued as P
E: close
