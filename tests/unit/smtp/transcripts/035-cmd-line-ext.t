# With 256 octets of extension room (default) a 768-octet line passes.
@config max_errors=5
S: 220 mx.test ESMTP
R: NOOP 
L: 761 a
R: \r\n
S: 250 2.0.0 Ok
R: NOOP 
L: 762 a
R: \r\n
S: 500 5.5.2 Error: line too long
