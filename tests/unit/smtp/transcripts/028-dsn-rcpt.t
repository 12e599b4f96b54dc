# RFC 3461 4.1/4.2: NOTIFY and ORCPT with RCPT.
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
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;b+40example.net
E: rcpt <b@example.net> notify=e orcpt=rfc822;b+40example.net
S: 250 2.1.5 Ok
C: RCPT TO:<c@example.net> NOTIFY=NEVER
E: rcpt <c@example.net> notify=1
S: 250 2.1.5 Ok
C: RCPT TO:<d@example.net> NOTIFY=NEVER,SUCCESS
S: 501 5.5.4 Error: bad parameter: NOTIFY
C: RCPT TO:<d@example.net> NOTIFY=SOMETIMES
S: 501 5.5.4 Error: bad parameter: NOTIFY
C: RCPT TO:<d@example.net> NOTIFY=SUCCESS,
S: 501 5.5.4 Error: bad parameter: NOTIFY
C: RCPT TO:<d@example.net> ORCPT=b@example.net
S: 501 5.5.4 Error: bad parameter: ORCPT
C: RCPT TO:<d@example.net> ORCPT=;b@example.net
S: 501 5.5.4 Error: bad parameter: ORCPT
C: RCPT TO:<d@example.net> ORCPT=rfc822;
S: 501 5.5.4 Error: bad parameter: ORCPT
C: RCPT TO:<d@example.net> ORCPT=rfc822;a b
S: 555 5.5.4 Error: unsupported parameter: b
C: RCPT TO:<d@example.net> NOTIFY=DELAY NOTIFY=DELAY
S: 501 5.5.4 Error: bad parameter: NOTIFY
R: RCPT TO:<d@example.net> ORCPT=utf-8;d\xc3\xa9@example.net\r\n
S: 501 5.5.4 Error: bad parameter: ORCPT
E: txn-abort reject=0
E: close
