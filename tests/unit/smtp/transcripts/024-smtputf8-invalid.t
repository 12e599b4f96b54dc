# Malformed UTF-8 is a syntax error even with SMTPUTF8 (RFC 3629).
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
R: MAIL FROM:<a\xc3@example.org> SMTPUTF8\r\n
S: 501 5.1.7 Error: bad sender address syntax
R: MAIL FROM:<a\xc0\xaf@example.org> SMTPUTF8\r\n
S: 501 5.1.7 Error: bad sender address syntax
R: MAIL FROM:<a\xed\xa0\x80@example.org> SMTPUTF8\r\n
S: 501 5.1.7 Error: bad sender address syntax
R: MAIL FROM:<a\xff@example.org> SMTPUTF8\r\n
S: 501 5.1.7 Error: bad sender address syntax
R: MAIL FROM:<a\xe2\x82\xac@example.org> SMTPUTF8\r\n
S: 250 2.1.0 Ok
