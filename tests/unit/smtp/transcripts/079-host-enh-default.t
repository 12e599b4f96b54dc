# Host replies without (or with a wrong) enhanced code get the class
# default X.0.0 (RFC 3463: the class must match the reply code).
@host rcpt=a@example.org reply 550 - No such user
@host rcpt=b@example.org reply 450 5.1.1 Wrong class
@host rcpt=c@example.org reply 451 4.7.1 Greylisted, try again later
@config max_errors=20
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<x@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<a@example.org>
S: 550 5.0.0 No such user
C: RCPT TO:<b@example.org>
S: 450 4.0.0 Wrong class
C: RCPT TO:<c@example.org>
S: 451 4.7.1 Greylisted, try again later
