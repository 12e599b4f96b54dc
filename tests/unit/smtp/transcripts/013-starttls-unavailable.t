# TLS is not built yet: STARTTLS is not announced and answers 502.
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
C: STARTTLS
S: 502 5.5.1 Error: command not implemented
C: NOOP
S: 250 2.0.0 Ok
