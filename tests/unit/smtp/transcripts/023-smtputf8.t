# RFC 6531: non-ASCII addresses only with MAIL ... SMTPUTF8 (else 553 5.6.7).
@trace
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
R: MAIL FROM:<j\xc3\xb6rg@example.org>\r\n
S: 553 5.6.7 Error: non-ASCII address requires SMTPUTF8
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
R: RCPT TO:<j\xc3\xb6rg@example.org>\r\n
S: 553 5.6.7 Error: non-ASCII address requires SMTPUTF8
C: RSET
E: txn-abort reject=0
S: 250 2.0.0 Ok
R: MAIL FROM:<j\xc3\xb6rg@b\xc3\xbccher.example> SMTPUTF8\r\n
E: mail <j\xc3\xb6rg@b\xc3\xbccher.example> smtputf8
S: 250 2.1.0 Ok
R: RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example>\r\n
E: rcpt <\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example>
S: 250 2.1.5 Ok
C: MAIL FROM:<a@example.org> SMTPUTF8
S: 503 5.5.1 Error: nested MAIL command
C: RSET
E: txn-abort reject=0
S: 250 2.0.0 Ok
C: MAIL FROM:<a@example.org> SMTPUTF8=yes
S: 501 5.5.4 Error: bad parameter: SMTPUTF8
E: close
