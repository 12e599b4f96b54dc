# RFC 5321 4.1.1.3: <Postmaster> without a domain MUST be accepted.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<Postmaster>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@example.org>
E: mail <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<Postmaster>
E: rcpt <Postmaster>
S: 250 2.1.5 Ok
C: RCPT TO:<postMASTER>
E: rcpt <postMASTER>
S: 250 2.1.5 Ok
C: RCPT TO:<postmaster2>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<webmaster>
S: 501 5.1.3 Error: bad recipient address syntax
E: txn-abort reject=0
E: close
