# RFC 3461 4.3/4.4: RET=FULL|HDRS and ENVID=xtext (<= 100) with MAIL.
@trace
@config max_errors=50
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
C: MAIL FROM:<a@example.org> RET=MAYBE
S: 501 5.5.4 Error: bad RET value: RET
C: MAIL FROM:<a@example.org> RET=FULL RET=HDRS
S: 501 5.5.4 Error: bad parameter: RET
C: MAIL FROM:<a@example.org> ENVID=a+zz
S: 501 5.5.4 Error: bad parameter: ENVID
C: MAIL FROM:<a@example.org> ENVID=a+2b
S: 501 5.5.4 Error: bad parameter: ENVID
C: MAIL FROM:<a@example.org> ENVID=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
S: 501 5.5.4 Error: bad parameter: ENVID
C: MAIL FROM:<a@example.org> ENVID=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
E: mail <a@example.org> envid=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
S: 250 2.1.0 Ok
C: RSET
E: txn-abort reject=0
S: 250 2.0.0 Ok
C: MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159+2B1
E: mail <a@example.org> ret=HDRS envid=QQ314159+2B1
S: 250 2.1.0 Ok
E: txn-abort reject=0
E: close
