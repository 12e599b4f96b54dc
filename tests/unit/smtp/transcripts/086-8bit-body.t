# 8-bit octets in a body are passed through exactly.
@trace
@host data-end reply 250 2.0.0 Ok: queued as U
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
R: \xff\xfe\x80\t\x1b\r\n.\r\n
E: data-end size=7 bdat=0 body=\xff\xfe\x80\x09\x1b\r\n
S: 250 2.0.0 Ok: queued as U
E: close
