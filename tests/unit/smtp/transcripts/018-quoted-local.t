# RFC 5321 4.1.2: Quoted-string local parts, quoted pairs, dot-strings.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<"john doe"@example.org>
E: mail <"john doe"@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<"a\"b\\c"@example.net>
E: rcpt <"a\\"b\\\\c"@example.net>
S: 250 2.1.5 Ok
C: RCPT TO:<first.last+tag@example.net>
E: rcpt <first.last+tag@example.net>
S: 250 2.1.5 Ok
C: RCPT TO:<!#$%&'*+-/=?^_`{|}~@example.net>
E: rcpt <!#$%&'*+-/=?^_`{|}~@example.net>
S: 250 2.1.5 Ok
C: RCPT TO:<"unterminated@example.net>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<a..b@example.net>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<.a@example.net>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<a.@example.net>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<a b@example.net>
S: 501 5.1.3 Error: bad recipient address syntax
E: txn-abort reject=0
E: close
