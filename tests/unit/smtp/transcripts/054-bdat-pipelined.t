# BDAT chunks pipelined with the envelope (RFC 3030 4.2), one group.
@trace
@host data-end reply 250 2.0.0 Ok: queued as B5
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
C: MAIL FROM:<a@example.org> BODY=8BITMIME
C: RCPT TO:<b@example.org>
C: RCPT TO:<c@example.org>
C: BDAT 10
R: Subject: y
C: BDAT 8 LAST
R: \r\n\r\nhi\r\n
C: QUIT
E: mail <a@example.org> body=8BITMIME
S: 250 2.1.0 Ok
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
E: rcpt <c@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=1
S: 250 2.0.0 Ok: 10 octets received
E: data-end size=18 bdat=1 body=Subject: y\r\n\r\nhi\r\n
S: 250 2.0.0 Ok: queued as B5
S: 221 2.0.0 Bye
E: close
