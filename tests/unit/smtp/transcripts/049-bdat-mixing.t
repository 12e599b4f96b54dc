# RFC 3030 2: no DATA in a BDAT transaction, no RCPT after BDAT.
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
C: BDAT 3
R: abc
S: 250 2.0.0 Ok: 3 octets received
C: DATA
S: 503 5.5.1 Error: DATA in a BDAT transaction
C: RCPT TO:<c@example.org>
S: 503 5.5.1 Error: RCPT after BDAT
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Error: nested MAIL command
C: NOOP
S: 250 2.0.0 Ok
C: BDAT 2 LAST
R: \r\n
S: 451 4.3.0 Error: message not stored
C: RSET
S: 250 2.0.0 Ok
