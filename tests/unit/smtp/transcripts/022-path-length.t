# RFC 5321 4.5.3.1: local part <= 64, domain <= 255, path <= 256 octets.
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<lllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll@example.org>
S: 501 5.1.3 Error: recipient address too long
C: RCPT TO:<a@ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.com>
S: 501 5.1.3 Error: recipient address too long
C: RCPT TO:<abcd@dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.examp>
S: 250 2.1.5 Ok
C: RCPT TO:<abcde@dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.examp>
S: 501 5.1.3 Error: recipient address too long
C: RCPT TO:<a@xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.com>
S: 501 5.1.3 Error: bad recipient address syntax
