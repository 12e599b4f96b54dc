# Recipient policy rejects: the rejected one leaves no trace in the
# envelope; DATA needs at least one accepted recipient.
@trace
@host rcpt=nobody@example.org reply 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown
@host rcpt=relay@elsewhere.example reply 554 5.7.1 <relay@elsewhere.example>: Relay access denied
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<a@example.org>
C: RCPT TO:<nobody@example.org>
C: RCPT TO:<relay@elsewhere.example>
C: DATA
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <nobody@example.org>
S: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown
E: rcpt <relay@elsewhere.example>
S: 554 5.7.1 <relay@elsewhere.example>: Relay access denied
S: 503 5.5.1 Error: need RCPT command
C: RCPT TO:<ok@example.org>
E: rcpt <ok@example.org>
S: 250 2.1.5 Ok
C: DATA
E: data-begin bdat=0
S: 354 End data with <CR><LF>.<CR><LF>
C: .
E: data-end size=0 bdat=0 body=
S: 451 4.3.0 Error: message not stored
E: close
