# QUIT takes no argument; input after QUIT is never read.
@trace
E: connect 192.0.2.1
S: 220 mx.test ESMTP
C: QUIT now
S: 501 5.5.4 Syntax: QUIT
C: QUIT
C: HELO pipelined.after.quit
S: 221 2.0.0 Bye
E: close
