# RFC 6152: BODY=7BIT / 8BITMIME; BINARYMIME is not announced.
@trace
@config max_errors=50
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
C: MAIL FROM:<a@example.org> BODY=BINARYMIME
S: 501 5.5.4 Error: unsupported BODY type: BODY
C: MAIL FROM:<a@example.org> BODY=7BIT BODY=7BIT
S: 501 5.5.4 Error: bad parameter: BODY
C: MAIL FROM:<a@example.org> BODY
S: 501 5.5.4 Error: bad parameter: BODY
C: MAIL FROM:<a@example.org> BODY=7bit
E: mail <a@example.org> body=7BIT
S: 250 2.1.0 Ok
C: RSET
E: txn-abort reject=0
S: 250 2.0.0 Ok
C: MAIL FROM:<a@example.org> BODY=8BITMIME
E: mail <a@example.org> body=8BITMIME
S: 250 2.1.0 Ok
E: txn-abort reject=0
E: close
