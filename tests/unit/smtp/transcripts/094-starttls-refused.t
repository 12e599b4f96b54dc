# The host has no TLS to give (every TLS slot in use, no certificate): 454
# as Postfix says it (RFC 3207 4), no error counted, and the session goes
# on in plaintext; a later STARTTLS may succeed.
@config starttls=1
@trace
@host starttls reply 454 4.7.0 TLS not available due to local problem
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: EHLO c.example
E: helo c.example esmtp=1
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: STARTTLS
E: starttls
S: 454 4.7.0 TLS not available due to local problem
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: QUIT
E: txn-abort reject=0
S: 221 2.0.0 Bye
E: close
