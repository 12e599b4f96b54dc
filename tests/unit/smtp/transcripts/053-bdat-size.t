# Size limit over BDAT chunks: the chunk that crosses it is read and
# refused (552 5.3.4); chunks already pipelined behind it are discarded.
@config max_msg_size=10
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: EHLO c.example
E: helo c.example esmtp=1
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.org>
C: BDAT 6
R: 1234\r\n
C: BDAT 6
R: RSET\r\n
C: BDAT 3 LAST
R: ab\n
C: RSET
E: mail <a@example.org>
S: 250 2.1.0 Ok
E: rcpt <b@example.org>
S: 250 2.1.5 Ok
E: data-begin bdat=1
S: 250 2.0.0 Ok: 6 octets received
S: 552 5.3.4 Error: message size exceeds fixed limit
E: txn-abort reject=0
S: 503 5.5.1 Error: transaction failed, send RSET
S: 250 2.0.0 Ok
E: close
