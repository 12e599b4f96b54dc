# RFC 5321 3.1: a 554 greeting; everything but QUIT then gets 503.
@host connect reply 554 5.7.1 Service unavailable; client [192.0.2.1] blocked
S: 554 5.7.1 Service unavailable; client [192.0.2.1] blocked
C: EHLO c.example
S: 503 5.5.1 Error: no SMTP service here, send QUIT
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Error: no SMTP service here, send QUIT
C: QUIT
S: 221 2.0.0 Bye
