# RFC 3030 2: "BDAT 0 LAST" ends a chunked message; alone it is an empty one.
@trace
@host data-end reply 250 2.0.0 Ok: queued as B2
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
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.org>
C: BDAT 5
R: abc\r\n
C: BDAT 0 LAST
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=1
S: 250 2.0.0 Ok: 5 octets received
E: data-end size=5 bdat=1 body=abc\r\n
S: 250 2.0.0 Ok: queued as B2
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.org>
C: BDAT 0 LAST
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=1
E: data-end size=0 bdat=1 body=
S: 250 2.0.0 Ok: queued as B2
E: close
