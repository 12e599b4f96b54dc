# Unknown commands, an empty line, a verb glued to its argument.
S: 220 mx.test ESMTP
C: FOO bar
S: 502 5.5.2 Error: command not recognized
C:
S: 500 5.5.2 Error: empty command
C: MAILFROM:<a@b.c>
S: 502 5.5.2 Error: command not recognized
C: HELO
S: 501 5.5.4 Syntax: HELO hostname
C: TURN
S: 502 5.5.2 Error: command not recognized
C: QUIT
S: 221 2.0.0 Bye
