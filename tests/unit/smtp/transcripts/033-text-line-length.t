# RFC 5321 4.5.3.1.6: text lines <= 1000 octets including CRLF. 998+CRLF
# passes; 999+CRLF rejects the message at its end (552 5.3.4).
@host data-end reply 250 2.0.0 Ok: queued as Q3
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
L: 998 x
R: \r\n
R: .
L: 998 y
R: \r\n.\r\n
S: 250 2.0.0 Ok: queued as Q3
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
L: 999 x
R: \r\nshort\r\n.\r\n
S: 552 5.3.4 Error: message line longer than 1000 octets
C: NOOP
S: 250 2.0.0 Ok
