@config starttls=1
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: STARTTLS
S: 503 5.5.1 Error: MAIL transaction in progress
C: RSET
S: 250 2.0.0 Ok
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
