# RFC 3030: BDAT with exact counts; the body is binary-exact (no dot
# handling, "CRLF.CRLF" inside a chunk means nothing).
@trace
@host data-end reply 250 2.0.0 Ok: queued as B1
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
C: BDAT 12
E: data-begin bdat=1
R: Subject: x\r\n
S: 250 2.0.0 Ok: 12 octets received
C: BDAT 11
R: \r\n.\r\nQUIT\r\n
S: 250 2.0.0 Ok: 23 octets received
C: BDAT 6 LAST
R: ..end\n
E: txn-abort reject=1
S: 554 5.6.0 Error: bare <CR> or <LF> in message
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
C: BDAT 7 LAST
E: data-begin bdat=1
R: ..end\r\n
E: data-end size=7 bdat=1 body=..end\r\n
S: 250 2.0.0 Ok: queued as B1
E: close
