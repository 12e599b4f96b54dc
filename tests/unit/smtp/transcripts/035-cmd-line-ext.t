# The extension room (line_ext, default 256) belongs to MAIL and RCPT (RFC
# 1869 parameters): a 768-octet MAIL line passes, 769 does not. A NOOP gets
# no room: 512 octets (088-cmd-line-noop.t).
@config max_errors=5
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
R: MAIL FROM:<a@example.org>
L: 741 \x20
R: \r\n
S: 250 2.1.0 Ok
C: RSET
S: 250 2.0.0 Ok
R: MAIL FROM:<a@example.org>
L: 742 \x20
R: \r\n
S: 500 5.5.2 Error: line too long
R: NOOP 
L: 761 a
R: \r\n
S: 500 5.5.2 Error: line too long
C: NOOP
S: 250 2.0.0 Ok
