# RFC 1870: SIZE= checked against the limit at MAIL (552 5.3.4).
@config max_msg_size=1000
@config max_errors=50
S: 220 mx.test ESMTP
C: EHLO c.example
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: MAIL FROM:<a@example.org> SIZE=1001
S: 552 5.3.4 Error: message size exceeds fixed limit
C: MAIL FROM:<a@example.org> SIZE=99999999999999999999
S: 501 5.5.4 Error: bad parameter: SIZE
C: MAIL FROM:<a@example.org> SIZE=12a
S: 501 5.5.4 Error: bad parameter: SIZE
C: MAIL FROM:<a@example.org> SIZE
S: 501 5.5.4 Error: bad parameter: SIZE
C: MAIL FROM:<a@example.org> SIZE=
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:<a@example.org> SIZE=10 SIZE=10
S: 501 5.5.4 Error: bad parameter: SIZE
C: MAIL FROM:<a@example.org> SIZE=1000
S: 250 2.1.0 Ok
