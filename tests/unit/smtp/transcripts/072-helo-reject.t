# The host refuses the HELO name: the session stays without HELO.
@host helo=bad.local reply 550 5.7.1 <bad.local>: Helo command rejected: special-use name
S: 220 mx.test ESMTP
C: EHLO bad.local
S: 550 5.7.1 <bad.local>: Helo command rejected: special-use name
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Error: send HELO/EHLO first
C: HELO good.example
S: 250 mx.test
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
