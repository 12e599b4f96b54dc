# A small output buffer: the engine stops reading when a reply might not
# fit and continues once the host has drained; order is unchanged.
@config out_size=340
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<a@example.org>
C: RCPT TO:<r1@example.org>
C: RCPT TO:<r2@example.org>
C: RCPT TO:<r3@example.org>
C: RCPT TO:<r4@example.org>
C: RCPT TO:<r5@example.org>
C: RCPT TO:<r6@example.org>
C: RCPT TO:<r7@example.org>
C: RCPT TO:<r8@example.org>
C: RCPT TO:<r9@example.org>
C: RCPT TO:<r10@example.org>
C: RCPT TO:<r11@example.org>
C: RCPT TO:<r12@example.org>
C: RCPT TO:<r13@example.org>
C: RCPT TO:<r14@example.org>
C: RCPT TO:<r15@example.org>
C: RCPT TO:<r16@example.org>
C: RCPT TO:<r17@example.org>
C: RCPT TO:<r18@example.org>
C: RCPT TO:<r19@example.org>
C: RCPT TO:<r20@example.org>
C: RCPT TO:<r21@example.org>
C: RCPT TO:<r22@example.org>
C: RCPT TO:<r23@example.org>
C: RCPT TO:<r24@example.org>
C: RCPT TO:<r25@example.org>
C: RCPT TO:<r26@example.org>
C: RCPT TO:<r27@example.org>
C: RCPT TO:<r28@example.org>
C: RCPT TO:<r29@example.org>
C: RCPT TO:<r30@example.org>
C: RCPT TO:<r31@example.org>
C: RCPT TO:<r32@example.org>
C: RCPT TO:<r33@example.org>
C: RCPT TO:<r34@example.org>
C: RCPT TO:<r35@example.org>
C: RCPT TO:<r36@example.org>
C: RCPT TO:<r37@example.org>
C: RCPT TO:<r38@example.org>
C: RCPT TO:<r39@example.org>
C: RCPT TO:<r40@example.org>
C: RSET
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.0.0 Ok
