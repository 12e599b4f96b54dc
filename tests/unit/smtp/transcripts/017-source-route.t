# RFC 5321 4.1.2 / C: source routes are accepted, checked, and stripped.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: HELO c.example
E: helo c.example esmtp=0
S: 250 mx.test
C: MAIL FROM:<@a.example,@b.example:user@c.example>
E: mail <user@c.example>
S: 250 2.1.0 Ok
C: RCPT TO:<@relay.example:bob@d.example>
E: rcpt <bob@d.example>
S: 250 2.1.5 Ok
C: RCPT TO:<@relay.example,bob@d.example>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<@:bob@d.example>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<@[192.0.2.1]:bob@d.example>
S: 501 5.1.3 Error: bad recipient address syntax
E: txn-abort reject=0
E: close
