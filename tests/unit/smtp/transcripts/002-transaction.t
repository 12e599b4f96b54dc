# One message through DATA; the default host answers 451 4.3.0 (no spool).
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO client.example.org
E: helo client.example.org esmtp=0
S: 250 mx.test
C: MAIL FROM:<alice@example.org>
E: mail <alice@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<bob@example.net>
E: rcpt <bob@example.net>
S: 250 2.1.5 Ok
C: DATA
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
C: Subject: hi
C:
C: ..leading dot
C: body
C: .
E: data-end size=35 bdat=0 body=Subject: hi\r\n\r\n.leading dot\r\nbody\r\n
S: 451 4.3.0 Error: message not stored
C: QUIT
S: 221 2.0.0 Bye
E: close
