# The connect check answered later: the banner follows the answer.
@trace
@host connect pending
E: connect 192.0.2.1
W: 50
A: 0
S: 220 mx.test ESMTP
C: QUIT
S: 221 2.0.0 Bye
E: close
