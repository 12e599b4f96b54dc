# SMTP smuggling (SEC Consult 2023), variant lf-lf-dot-lf-lf: the body contains
# "\n\n.\n\n" followed by a whole second transaction. The only end of data is
# CRLF.CRLF: the message is refused once, no second MAIL ever happens.
@trace
@host data-end reply 250 2.0.0 Ok: queued as Q
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO attacker.example
E: helo attacker.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<user@attacker.example>
C: RCPT TO:<victim@example.org>
C: DATA
E: mail <user@attacker.example>
S: 250 2.1.0 Ok
E: rcpt <victim@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
C: From: user@attacker.example
C:
R: first message\n\n.\n\nMAIL FROM:<admin@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nFrom: admin@example.org\r\n\r\nsmuggled\r\n
C: .
E: txn-abort reject=1
S: 554 5.6.0 Error: bare <CR> or <LF> in message
C: QUIT
S: 221 2.0.0 Bye
E: close
