# RFC 5321 4.5.2: the first dot of a line starting with one is removed;
# "." alone ends data; lines of dots, dots mid-line and a "..." line.
@trace
@host data-end reply 250 2.0.0 Ok: queued as D
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
C: ..
C: ...
C: . x
C: a.b
C: .a
C:  .
C: .
E: data-end size=23 bdat=0 body=.\r\n..\r\n x\r\na.b\r\na\r\n .\r\n
S: 250 2.0.0 Ok: queued as D
E: close
