# End of data answered later (spool group commit), then 250.
@trace
@host data-end pending
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
C: hello
C: .
C: QUIT
E: data-end size=7 bdat=0 body=hello\r\n
W: 10
A: 250 2.0.0 Ok: queued as 7QQ
S: 250 2.0.0 Ok: queued as 7QQ
S: 221 2.0.0 Bye
E: close
