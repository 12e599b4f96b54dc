# RFC 5321 4.5.3.1.10: recipients over the limit get 452 4.5.3 (not an
# error toward max_errors); the accepted ones go on.
@config max_rcpt=2
@config max_errors=2
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<a@example.org>
C: RCPT TO:<r1@example.org>
C: RCPT TO:<r2@example.org>
C: RCPT TO:<r3@example.org>
C: RCPT TO:<r4@example.org>
C: RCPT TO:<r5@example.org>
C: DATA
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <r1@example.org>
S: 250 2.1.5 Ok
E: rcpt <r2@example.org>
S: 250 2.1.5 Ok
S: 452 4.5.3 Error: too many recipients
S: 452 4.5.3 Error: too many recipients
S: 452 4.5.3 Error: too many recipients
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
C: .
E: data-end size=0 bdat=0 body=
S: 451 4.3.0 Error: message not stored
E: close
