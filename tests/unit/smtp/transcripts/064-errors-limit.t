# RFC 5321 4.3.2 / Postfix hard error limit: after max_errors error
# replies, 421 4.7.0 and close.
@config max_errors=3
S: 220 mx.test ESMTP
C: FOO
C: BAR
C: MAIL FROM:<a@example.org>
C: NOOP
S: 502 5.5.2 Error: command not recognized
S: 502 5.5.2 Error: command not recognized
S: 503 5.5.1 Error: send HELO/EHLO first
S: 421 4.7.0 mx.test Error: too many errors
