# Default limit: 100 recipients per message; the 101st gets 452 4.5.3.
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:<a@example.org>
C: RCPT TO:<r0@example.org>
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
C: RCPT TO:<r41@example.org>
C: RCPT TO:<r42@example.org>
C: RCPT TO:<r43@example.org>
C: RCPT TO:<r44@example.org>
C: RCPT TO:<r45@example.org>
C: RCPT TO:<r46@example.org>
C: RCPT TO:<r47@example.org>
C: RCPT TO:<r48@example.org>
C: RCPT TO:<r49@example.org>
C: RCPT TO:<r50@example.org>
C: RCPT TO:<r51@example.org>
C: RCPT TO:<r52@example.org>
C: RCPT TO:<r53@example.org>
C: RCPT TO:<r54@example.org>
C: RCPT TO:<r55@example.org>
C: RCPT TO:<r56@example.org>
C: RCPT TO:<r57@example.org>
C: RCPT TO:<r58@example.org>
C: RCPT TO:<r59@example.org>
C: RCPT TO:<r60@example.org>
C: RCPT TO:<r61@example.org>
C: RCPT TO:<r62@example.org>
C: RCPT TO:<r63@example.org>
C: RCPT TO:<r64@example.org>
C: RCPT TO:<r65@example.org>
C: RCPT TO:<r66@example.org>
C: RCPT TO:<r67@example.org>
C: RCPT TO:<r68@example.org>
C: RCPT TO:<r69@example.org>
C: RCPT TO:<r70@example.org>
C: RCPT TO:<r71@example.org>
C: RCPT TO:<r72@example.org>
C: RCPT TO:<r73@example.org>
C: RCPT TO:<r74@example.org>
C: RCPT TO:<r75@example.org>
C: RCPT TO:<r76@example.org>
C: RCPT TO:<r77@example.org>
C: RCPT TO:<r78@example.org>
C: RCPT TO:<r79@example.org>
C: RCPT TO:<r80@example.org>
C: RCPT TO:<r81@example.org>
C: RCPT TO:<r82@example.org>
C: RCPT TO:<r83@example.org>
C: RCPT TO:<r84@example.org>
C: RCPT TO:<r85@example.org>
C: RCPT TO:<r86@example.org>
C: RCPT TO:<r87@example.org>
C: RCPT TO:<r88@example.org>
C: RCPT TO:<r89@example.org>
C: RCPT TO:<r90@example.org>
C: RCPT TO:<r91@example.org>
C: RCPT TO:<r92@example.org>
C: RCPT TO:<r93@example.org>
C: RCPT TO:<r94@example.org>
C: RCPT TO:<r95@example.org>
C: RCPT TO:<r96@example.org>
C: RCPT TO:<r97@example.org>
C: RCPT TO:<r98@example.org>
C: RCPT TO:<r99@example.org>
C: RCPT TO:<r100@example.org>
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
S: 452 4.5.3 Error: too many recipients
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
C: .
S: 451 4.3.0 Error: message not stored
