# RFC 5321 2.3.8: command lines end with CRLF only; bare LF and bare CR
# are refused (500 5.5.2) and the session continues.
S: 220 mx.test ESMTP
R: NOOP\n
S: 500 5.5.2 Error: bare <LF> received
R: HELO c.example\n
S: 500 5.5.2 Error: bare <LF> received
R: NOOP\rRSET\r\n
S: 500 5.5.2 Error: bare <CR> received
R: NOOP\r\r\n
S: 500 5.5.2 Error: bare <CR> received
R: NO\x00OP\r\n
S: 500 5.5.2 Error: NUL character received
R: \n
S: 500 5.5.2 Error: bare <LF> received
C: NOOP
S: 250 2.0.0 Ok
