# Several messages in one session; the envelope is fresh each time.
@trace
@host data-end reply 250 2.0.0 Ok: queued as M
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
S: 354 End data with <CR><LF>.<CR><LF>
C: one
C: .
C: MAIL FROM:<>
C: RCPT TO:<c@example.org>
C: DATA
E: data-end size=5 bdat=0 body=one\r\n
S: 250 2.0.0 Ok: queued as M
E: mail <>
S: 250 2.1.0 Ok
E: rcpt <c@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
C: two
C: .
E: data-end size=5 bdat=0 body=two\r\n
S: 250 2.0.0 Ok: queued as M
E: close
