# A valid count with junk after it: 501, the counted octets are skipped.
@config max_errors=50
S: 220 mx.test ESMTP
C: EHLO c.example
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
S: 250 2.1.5 Ok
C: BDAT 6 LASTX
R: QUIT\r\n
S: 501 5.5.4 Syntax: BDAT count [LAST]
C: BDAT 6 LAST LAST
R: QUIT\r\n
S: 501 5.5.4 Syntax: BDAT count [LAST]
C: BDAT
S: 501 5.5.4 Syntax: BDAT count [LAST]
C: BDAT -1
S: 501 5.5.4 Syntax: BDAT count [LAST]
S: 421 4.5.0 mx.test Error: BDAT framing lost, closing
