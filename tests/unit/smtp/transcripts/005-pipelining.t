# RFC 2920: a whole transaction pipelined; replies keep their order and the
# body sent right behind DATA (after the sync point) is read as body.
@trace
@host data-end reply 250 2.0.0 Ok: queued as Q1
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
C: RCPT TO:<b@example.net>
C: RCPT TO:<c@example.net>
C: DATA
C: hello
C: .
C: QUIT
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <b@example.net>
S: 250 2.1.5 Ok
E: rcpt <c@example.net>
S: 250 2.1.5 Ok
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
E: data-end size=7 bdat=0 body=hello\r\n
S: 250 2.0.0 Ok: queued as Q1
S: 221 2.0.0 Bye
E: close
