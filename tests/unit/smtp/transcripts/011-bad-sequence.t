# RFC 5321 4.1.4 / 3.3: commands out of order get 503 5.5.1.
S: 220 mx.test ESMTP
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Error: send HELO/EHLO first
C: RCPT TO:<b@example.org>
S: 503 5.5.1 Error: send HELO/EHLO first
C: DATA
S: 503 5.5.1 Error: send HELO/EHLO first
C: EHLO c.example
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: RCPT TO:<b@example.org>
S: 503 5.5.1 Error: need MAIL command
C: DATA
S: 503 5.5.1 Error: need MAIL command
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: DATA
S: 503 5.5.1 Error: need RCPT command
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Error: nested MAIL command
C: DATA now
S: 503 5.5.1 Error: need RCPT command
C: QUIT
S: 221 2.0.0 Bye
