# Pregreet with action drop: counted, and the connection closes without a
# word (not even the banner).
@config greet_delay_ms=2000
@config pregreet=drop
@trace
E: connect 192.0.2.1
W: 1000
C: EHLO bot.example
E: close
