# BDAT with a parked data-begin answered by a rejection: the chunk octets
# are still read and dropped; the BDATs pipelined behind are discarded.
@trace
@host data-begin pending
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
C: BDAT 6
R: QUIT\r\n
C: BDAT 6 LAST
R: QUIT\r\n
C: NOOP
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=1
A: 452 4.3.1 Insufficient system storage
S: 452 4.3.1 Insufficient system storage
E: txn-abort reject=0
S: 503 5.5.1 Error: transaction failed, send RSET
S: 250 2.0.0 Ok
E: close
