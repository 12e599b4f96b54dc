# A CRLF split across two chunks is one line end; a chunked message may
# not end on a lone CR.
@trace
@host data-end reply 250 2.0.0 Ok: queued as B6
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
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
C: BDAT 3
E: data-begin bdat=1
R: ab\r
S: 250 2.0.0 Ok: 3 octets received
C: BDAT 1 LAST
R: \n
E: data-end size=4 bdat=1 body=ab\r\n
S: 250 2.0.0 Ok: queued as B6
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
C: BDAT 3 LAST
E: data-begin bdat=1
R: ab\r
E: txn-abort reject=1
S: 554 5.6.0 Error: bare <CR> or <LF> in message
E: close
