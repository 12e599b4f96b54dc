# A slow MAIL check parks the session: pipelined commands behind it are
# not read until the answer; replies keep their order.
@trace
@host mail pending
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.org>
C: DATA
E: mail <a@example.org>
A: 0
S: 250 2.1.0 Ok
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
C: .
E: data-end size=0 bdat=0 body=
S: 451 4.3.0 Error: message not stored
E: close
