# RFC 3030 2: a refused BDAT still has its octets read (they are not
# commands); state is kept.
@config max_errors=50
S: 220 mx.test ESMTP
C: BDAT 6
R: QUIT\r\n
S: 503 5.5.1 Error: send EHLO first
C: EHLO c.example
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: BDAT 6
R: QUIT\r\n
S: 503 5.5.1 Error: need MAIL command
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: BDAT 6 LAST
R: QUIT\r\n
S: 503 5.5.1 Error: need RCPT command
C: RCPT TO:<b@example.org>
S: 250 2.1.5 Ok
C: BDAT 0 LAST
S: 451 4.3.0 Error: message not stored
