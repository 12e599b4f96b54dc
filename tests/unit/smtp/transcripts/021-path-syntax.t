# Reverse/forward path syntax errors; blanks after the colon are tolerated.
@config max_errors=50
S: 220 mx.test ESMTP
C: HELO c.example
S: 250 mx.test
C: MAIL FROM:a@example.org
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@example.org
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@example.org>junk
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL TO:<a@example.org>
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:<@example.org>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@-example.org>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@example-.org>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@example..org>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@exa_mple.org>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<a@b@example.org>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:<<a@example.org>>
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL FROM:
S: 501 5.1.7 Error: bad sender address syntax
C: MAIL
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:  <a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:  <b@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<b@example.org>   
S: 250 2.1.5 Ok
C: RCPT
S: 501 5.5.4 Syntax: RCPT TO:<address>
