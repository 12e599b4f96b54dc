# RFC 5321 2.4: verbs and FROM:/TO: are case-insensitive.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: ehlo c.example
E: helo c.example esmtp=1
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: mail from:<A@Example.ORG> body=8bitmime
E: mail <A@Example.ORG> body=8BITMIME
S: 250 2.1.0 Ok
C: Rcpt To:<B@example.net> notify=success,Failure
E: rcpt <B@example.net> notify=6
S: 250 2.1.5 Ok
C: qUiT
E: txn-abort reject=0
S: 221 2.0.0 Bye
E: close
