# The envelope arena is bounded: when it is full, more recipients get
# 452 4.5.3 like the recipient limit; the accepted ones are kept.
@config env_arena=1024
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx00@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx01@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx02@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx03@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx04@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx05@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx06@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx07@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx08@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx09@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx10@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx11@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx12@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx13@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx14@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx15@example.org>
S: 452 4.5.3 Error: too many recipients
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx16@example.org>
S: 452 4.5.3 Error: too many recipients
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx17@example.org>
S: 452 4.5.3 Error: too many recipients
C: RSET
S: 250 2.0.0 Ok
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx99@example.org>
S: 250 2.1.5 Ok
