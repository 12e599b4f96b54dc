# Pregreet: a client talking before the banner is a bot (postscreen's
# test); with action reply (the default) it gets postscreen's 550 5.5.1
# Protocol error and the connection closes.
@config greet_delay_ms=2000
@trace
E: connect 192.0.2.1
W: 1000
C: EHLO bot.example
S: 550 5.5.1 Protocol error
E: close
