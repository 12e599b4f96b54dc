# Errors inside a pipelined group are answered in place, in order.
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
C: RCPT TO:<bad address>
C: RCPT TO:<ok@example.net>
C: FOO
C: RCPT TO:<ok2@example.net>
C: DATA
S: 250 2.1.0 Ok
S: 501 5.1.3 Error: bad recipient address syntax
S: 250 2.1.5 Ok
S: 502 5.5.2 Error: command not recognized
S: 250 2.1.5 Ok
S: 354 End data with <CR><LF>.<CR><LF>
C: .
S: 451 4.3.0 Error: message not stored
