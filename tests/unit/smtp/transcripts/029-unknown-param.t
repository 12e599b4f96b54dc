# RFC 5321 4.1.1.11: unrecognised parameters get 555 5.5.4.
@config max_errors=50
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
C: MAIL FROM:<a@example.org> AUTH=<>
S: 555 5.5.4 Error: unsupported parameter: AUTH
C: MAIL FROM:<a@example.org> X-FOO
S: 555 5.5.4 Error: unsupported parameter: X-FOO
C: MAIL FROM:<a@example.org> NOTIFY=NEVER
S: 555 5.5.4 Error: unsupported parameter: NOTIFY
C: MAIL FROM:<a@example.org> =x
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:<a@example.org> -X=1
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org> SIZE=10
S: 555 5.5.4 Error: unsupported parameter: SIZE
C: RCPT TO:<b@example.org> RET=FULL
S: 555 5.5.4 Error: unsupported parameter: RET
C: RCPT TO:<b@example.org>
S: 250 2.1.5 Ok
