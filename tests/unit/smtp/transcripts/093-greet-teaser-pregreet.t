# A client that answers the "220-" teaser before the final "220 " is a
# pregreet: 550 5.5.1 and the connection closes (pregreet = reply).
@config greet_delay_ms=2000
@config greet_teaser=1
@trace
E: connect 192.0.2.1
S: 220-mx.test ESMTP
W: 1000
C: EHLO bot.example
S: 550 5.5.1 Protocol error
E: close
