# The host (spool) accepts at end of data: its reply goes out verbatim.
@trace
@host data-end reply 250 2.0.0 Ok: queued as 4Xyz12
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: EHLO c.example
E: helo c.example esmtp=1
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=20
E: mail <a@example.org> size=20 body=8BITMIME
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.net>
E: rcpt <b@example.net>
S: 250 2.1.5 Ok
C: DATA
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
C: Subject: t
C:
R: caf\xc3\xa9\r\n
C: .
E: data-end size=21 bdat=0 body=Subject: t\r\n\r\ncaf\xc3\xa9\r\n
S: 250 2.0.0 Ok: queued as 4Xyz12
C: QUIT
S: 221 2.0.0 Bye
E: close
