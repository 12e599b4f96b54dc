# RFC 5321 4.5.3.1.4: command line <= 512 octets (MAIL and RCPT: + the
# configured extension room). Longer: 500 5.5.2, skipped to its LF,
# session in sync.
@config line_ext=0
S: 220 mx.test ESMTP
R: NOOP 
L: 505 a
R: \r\n
S: 250 2.0.0 Ok
R: NOOP 
L: 506 a
R: \r\n
S: 500 5.5.2 Error: line too long
R: NOOP 
L: 5000 a
R: MAIL FROM:<evil@example.org>\r\n
S: 500 5.5.2 Error: line too long
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
