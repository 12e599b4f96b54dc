# Commands per session are bounded (then 421 4.7.0).
@config max_commands=3
S: 220 mx.test ESMTP
C: NOOP
S: 250 2.0.0 Ok
C: RSET
C: RSET
C: RSET
S: 250 2.0.0 Ok
S: 250 2.0.0 Ok
S: 421 4.7.0 mx.test Error: too many commands
