# A parked data-begin for a non-LAST "BDAT 0", answered "continue": the
# transaction is accepted and sits between chunks (state chunking). Commands
# refused there do not end it, so the chunk of the next BDAT belongs to it
# and is handed over (fuzz regression crash-bdat-chunk-outside-body: the
# fuzz harness lost track of the body here; the engine was right). A BDAT
# outside any transaction afterwards is read and dropped without events.
@trace
@host data-begin pending
@host data-end reply 250 2.0.0 Ok: queued as Z0
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: EHLO c.example
E: helo c.example esmtp=1
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.org>
C: BDAT 0
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=1
A: 0
S: 250 2.0.0 Ok: 0 octets received
C: RCPT TO:<c@example.org>
C: MAIL FROM:<a@example.org>
C: XYZZY
R: BDAT0\rx\r\n
C: BDAT 4 LAST
R: ab\r\n
S: 503 5.5.1 Error: RCPT after BDAT
S: 503 5.5.1 Error: nested MAIL command
S: 502 5.5.2 Error: command not recognized
S: 500 5.5.2 Error: bare <CR> received
E: data-end size=4 bdat=1 body=ab\r\n
S: 250 2.0.0 Ok: queued as Z0
C: BDAT 4 LAST
R: cd\r\n
S: 503 5.5.1 Error: need MAIL command
C: QUIT
S: 221 2.0.0 Bye
E: close
