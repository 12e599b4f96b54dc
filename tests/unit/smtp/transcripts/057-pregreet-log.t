# Pregreet with action log: counted and logged; the early input is held
# (not consumed) until the banner has gone out, then served normally.
@config greet_delay_ms=2000
@config pregreet=log
@trace
E: connect 192.0.2.1
W: 1000
C: EHLO early.example
W: 999
W: 1
S: 220 mx.test ESMTP
E: helo early.example esmtp=1
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
C: QUIT
S: 221 2.0.0 Bye
E: close
