# HELO (not EHLO): plain 250 greeting, no ESMTP parameters, no BDAT.
S: 220 mx.test ESMTP
C: HELO client.example.org
S: 250 mx.test
C: MAIL FROM:<a@example.org> SIZE=100
S: 555 5.5.4 Error: unsupported parameter: SIZE
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org> NOTIFY=NEVER
S: 555 5.5.4 Error: unsupported parameter: NOTIFY
C: RCPT TO:<b@example.org>
S: 250 2.1.5 Ok
C: BDAT 4 LAST
R: abcd
S: 503 5.5.1 Error: send EHLO first
C: NOOP
S: 250 2.0.0 Ok
C: QUIT
S: 221 2.0.0 Bye
