/*
 * policy-t.h - types of the connection-stage policy (libmx_policy): the
 * checks, their verdicts and replies, the policy set (parsed [policy] keys
 * plus the tables) that the control thread publishes with RCU. Functions
 * are in policy.h.
 */
#ifndef MX_POLICY_POLICY_T_H
#define MX_POLICY_POLICY_T_H

#include <stdbool.h>
#include <stdint.h>

#include "smtp/smtp-t.h"

/* When a check runs, i.e. which engine event gives it its input. */
enum pol_class {
	POL_CLASS_CLIENT = 0, /* connect: the client's address */
	POL_CLASS_HELO,	      /* HELO/EHLO name */
	POL_CLASS_SENDER,     /* MAIL FROM */
	POL_CLASS_RCPT,	      /* RCPT TO */
	POL_CLASS_COUNT,
};

/*
 * The checks, in the order they run: X(id, class, code, enh, text).
 * Replies are Postfix's (smtpd_check.c) so operators recognise them: the
 * text is what follows the fixed prefix ("<name>: Helo command rejected: ",
 * "<addr>: Sender address rejected: " ...) and what `[policy] reply`
 * overrides, with the code and enhanced code. DNS checks answer TEMPFAIL
 * with 451 4.4.3 "... temporary lookup failure" (never 5xx).
 */
#define POL_CHECKS(X)                                                                              \
	X(client_rdns, CLIENT, 450, "4.7.25", "cannot find your hostname")                         \
	X(client_dnsbl, CLIENT, 554, "5.7.1", "")                                                  \
	X(helo_invalid, HELO, 501, "5.5.2", "Invalid name")                                        \
	X(helo_fqdn, HELO, 504, "5.5.2", "need fully-qualified hostname")                          \
	X(helo_special, HELO, 554, "5.7.1",                                                        \
	  "special-use or made-up name, not a host on the Internet")                               \
	X(helo_literal, HELO, 554, "5.7.1", "address literal is not your address")                 \
	X(helo_ours, HELO, 554, "5.7.1", "You are not me")                                         \
	X(helo_dns, HELO, 450, "4.7.1", "Host not found")                                          \
	X(sender_ours, SENDER, 553, "5.7.1", "not logged in")                                      \
	X(sender_domain, SENDER, 450, "4.1.8", "Domain not found")                                 \
	X(sender_spf, SENDER, 550, "5.7.23", "Message rejected due to: SPF fail - not authorized") \
	X(rcpt_relay, RCPT, 554, "5.7.1", "Relay access denied")                                   \
	X(rcpt_unknown, RCPT, 550, "5.1.1", "User unknown in local recipient table")               \
	X(rcpt_unverified, RCPT, 550, "5.1.1", "undeliverable address")

enum pol_check_id {
#define POL_X_ENUM(id, cl, code, enh, text) POL_CHK_##id,
	POL_CHECKS(POL_X_ENUM)
#undef POL_X_ENUM
		POL_CHK_COUNT,
};

/* What a check answers. */
enum pol_action {
	POL_CONTINUE = 0, /* next check */
	POL_ACCEPT,	  /* skip the later checks of this class */
	POL_REJECT,	  /* 5xx */
	POL_DEFER,	  /* 4xx */
	POL_PENDING,	  /* a DNS answer is missing (stage: park) */
	POL_ACTION_COUNT,
};

/* Per check: how its replies were counted (the registry's columns). */
enum pol_ctr {
	POL_CTR_REJECT = 0,
	POL_CTR_DEFER,
	POL_CTR_TEMPFAIL, /* of the defers: a DNS lookup that failed */
	POL_CTR_COUNT,
};

/* A verdict with its reply (text complete, prefix included). */
struct pol_verdict {
	uint8_t action; /* enum pol_action */
	uint8_t check;	/* enum pol_check_id that decided (REJECT/DEFER) */
	bool tempfail;	/* the 4xx comes from a failed lookup */
	uint16_t code;
	char enh[8];
	char text[SMTP_REPLY_MAX];
};

/* DNS answers a check may need, per session (filled by the stage from the
 * cache or the answer ring; see stage.c). */
enum pol_dns_state {
	POL_DNS_NONE = 0, /* not asked */
	POL_DNS_WAIT,	  /* asked, no answer yet */
	POL_DNS_FOUND,	  /* the name has what the check wants */
	POL_DNS_NOTFOUND, /* NXDOMAIN / NODATA down the whole chain */
	POL_DNS_TEMPFAIL,
};

#define POL_DNSBL_MAX	   16 /* zones (block and allow) */
#define POL_DNSBL_TXT_MAX  128
#define POL_SPECIAL_MAX	   64 /* special-use suffixes, built-in + configured */
#define POL_DNSBL_FILT_MAX 4  /* answer filters per zone */

/* One DNSBL/DNSWL zone: "zone[=filter][*weight]" (postscreen syntax);
 * a filter is one address pattern "127.0.0.[2..11]" (octets or [a..b] or
 * [a;b;c] lists), a negative weight is an allowlist. */
struct pol_dnsbl_zone {
	char name[128];
	int weight;
	unsigned nfilt;
	struct {
		uint8_t lo[4], hi[4]; /* one range per octet (lists: lo..hi each) */
		uint32_t bits[4][8];  /* octet value sets */
	} filt[POL_DNSBL_FILT_MAX];
};

/* Input of the checks: one session as far as it went. */
struct pol_input {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	const char *helo; /* NULL: not given yet */
	const char *from; /* NULL: no MAIL yet; "" the null sender */
	const char *rcpt; /* NULL: no RCPT yet */
	bool trusted;	  /* pol_trusted(): stranger checks skipped, may relay */
	/* DNS results (enum pol_dns_state); NONE means the check did not ask. */
	uint8_t helo_dns;
	uint8_t sender_dns;
	int dnsbl_score;
	bool dnsbl_done;
	uint16_t dnsbl_errors;	 /* zones that answered an error this session */
	int dnsbl_zone;		 /* the listing zone shown (-1: none) */
	uint8_t rdns;		 /* reverse DNS, forward-confirmed: FOUND; else NOTFOUND... */
	uint8_t spf;		 /* POL_DNS_NONE / POL_DNS_WAIT, else done */
	uint8_t spf_result;	 /* enum spf_result once done */
	const char *dnsbl_txt;	 /* its TXT reason ("" if none) */
	uint8_t verify;		 /* next hop's answer for rcpt (enum pol_dns_state) */
	const char *verify_text; /* "host H said: ..." ("" or NULL if none) */
};

struct pol_set;
struct pol_table;

#endif
