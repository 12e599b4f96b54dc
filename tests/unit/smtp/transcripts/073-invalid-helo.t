# RFC 5321 4.1.1.1: HELO/EHLO take a domain or an address literal.
@config max_errors=20
S: 220 mx.test ESMTP
C: EHLO
S: 501 5.5.4 Syntax: EHLO hostname
C: EHLO bad host
S: 501 5.5.2 Error: invalid EHLO hostname
C: EHLO bad!host
S: 501 5.5.2 Error: invalid EHLO hostname
C: EHLO [1.2.3]
S: 501 5.5.2 Error: invalid EHLO hostname
R: EHLO h\xc3\xa9.example\r\n
S: 501 5.5.2 Error: invalid EHLO hostname
C: EHLO aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
S: 501 5.5.2 Error: invalid EHLO hostname
C: HELO my_host.example   
S: 250 mx.test
C: EHLO [IPv6:2001:db8::5]
S: 250-mx.test
S: 250-PIPELINING
S: 250-SIZE 10240000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-SMTPUTF8
S: 250 DSN
