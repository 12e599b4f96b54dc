# A command line trickled one octet at a time does not extend the command
# timeout (only complete commands do).
S: 220 mx.test ESMTP
R: NO
W: 200000
R: O
W: 99999
R: P
W: 1
S: 421 4.4.2 mx.test Error: timeout exceeded
