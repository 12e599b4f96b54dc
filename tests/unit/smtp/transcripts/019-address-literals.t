# RFC 5321 4.1.3: IPv4, IPv6 and general address literals.
@config max_errors=20
S: 220 mx.test ESMTP
C: HELO [192.0.2.7]
S: 250 mx.test
C: MAIL FROM:<a@[192.0.2.1]>
S: 250 2.1.0 Ok
C: RCPT TO:<b@[IPv6:2001:db8::1]>
S: 250 2.1.5 Ok
C: RCPT TO:<b@[ipv6:::ffff:192.0.2.1]>
S: 250 2.1.5 Ok
C: RCPT TO:<b@[x-tag:some-thing]>
S: 250 2.1.5 Ok
C: RCPT TO:<b@[300.1.1.1]>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<b@[1.2.3]>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<b@[IPv6:2001:db8::g]>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<b@[192.0.2.1>
S: 501 5.1.3 Error: bad recipient address syntax
C: RCPT TO:<b@[]>
S: 501 5.1.3 Error: bad recipient address syntax
C: HELO [999.0.0.1]
S: 501 5.5.2 Error: invalid HELO hostname
