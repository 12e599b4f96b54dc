# Pregreet: a client talking before the banner is a bot (postscreen's
# test); with action drop it gets 554 5.5.1 and the connection closes.
@config greet_delay_ms=2000
@trace
E: connect 192.0.2.1
W: 1000
C: EHLO bot.example
S: 554 5.5.1 mx.test Error: SMTP protocol violation
E: close
