# Inside a BDAT chunk the data timeout applies.
@config timeout_data_ms=1000
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
C: BDAT 100
R: partial
W: 999
R: more
W: 1000
S: 421 4.4.2 mx.test Error: timeout exceeded
