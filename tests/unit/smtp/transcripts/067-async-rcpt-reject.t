# Parked RCPT answered with a rejection; a pending answer for one
# recipient holds the ones pipelined behind it.
@trace
@host rcpt=bad@example.org pending
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<a@example.org>
C: RCPT TO:<bad@example.org>
C: RCPT TO:<good@example.org>
C: DATA
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <bad@example.org>
A: 550 5.1.1 <bad@example.org>: Recipient address rejected: User unknown
S: 550 5.1.1 <bad@example.org>: Recipient address rejected: User unknown
E: rcpt <good@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
C: x
C: .
E: data-end size=3 bdat=0 body=x\r\n
S: 451 4.3.0 Error: message not stored
E: close
