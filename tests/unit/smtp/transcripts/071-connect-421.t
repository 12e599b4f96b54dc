# A 421 at connect (overload, rate limit) closes at once.
@trace
@host connect reply 421 4.7.0 mx.test Too many connections, try later
E: connect 192.0.2.1
S: 421 4.7.0 mx.test Too many connections, try later
E: close
