# Postscreen's teaser: "220-" at once, the final "220 " after the greet
# delay; a patient client is served.
@config greet_delay_ms=500
@config greet_teaser=1
S: 220-mx.test ESMTP
W: 499
W: 1
S: 220 mx.test ESMTP
C: EHLO c.example
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
