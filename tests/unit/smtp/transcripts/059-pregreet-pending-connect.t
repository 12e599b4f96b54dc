# Input while the connect check (e.g. DNSBL) is pending is pregreet too;
# the late answer of the host is then void.
@trace
@host connect pending
E: connect 192.0.2.1
C: EHLO hasty.example
S: 550 5.5.1 Protocol error
E: close
