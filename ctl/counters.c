/*
 * counters.c - puts every module's counters in the counter registry
 * (core/counters.h) at boot: the dataplane's and TCP's (dp_counters.c),
 * the queue's (queue_counters.c) and the SMTP server's, registered here
 * because smtp/ exposes them through its accessors (server.h) and the
 * registry only needs a read function. Order of registration is the order
 * of `show stats`: dp, tcp, smtp, adm, spool, relay, queue.
 *
 * A new SMTP_COUNTERS entry appears everywhere once its help line exists
 * below (SMTP_HELP_<name>: the build fails without it).
 */
#include "core/counters.h"
#include "core/log.h"
#include "dataplane/dp_counters.h"
#include "queue/queue_counters.h"
#include "smtp/admission.h"
#include "smtp/server.h"
#include "smtp/smtp-t.h"

#define SMTP_HELP_connections		       "SMTP sessions opened"
#define SMTP_HELP_connections_refused	       "SMTP sessions refused by the engine: no free session"
#define SMTP_HELP_closed		       "SMTP sessions closed"
#define SMTP_HELP_commands		       "SMTP commands received"
#define SMTP_HELP_transactions		       "mail transactions started (MAIL FROM accepted)"
#define SMTP_HELP_messages_accepted	       "messages answered 250 at end of data"
#define SMTP_HELP_messages_tempfailed	       "messages answered 4xx at end of data"
#define SMTP_HELP_messages_rejected	       "messages answered 5xx at end of data"
#define SMTP_HELP_data_octets		       "message octets received (DATA and BDAT)"
#define SMTP_HELP_replies_2xx		       "2xx replies sent"
#define SMTP_HELP_replies_3xx		       "3xx replies sent"
#define SMTP_HELP_replies_4xx		       "4xx replies sent"
#define SMTP_HELP_replies_5xx		       "5xx replies sent"
#define SMTP_HELP_rej_syntax		       "commands rejected: syntax error"
#define SMTP_HELP_rej_unknown_command	       "commands rejected: unknown command"
#define SMTP_HELP_rej_bad_sequence	       "commands rejected: bad sequence of commands"
#define SMTP_HELP_rej_bare_lf_command	       "commands rejected: bare LF in a command line"
#define SMTP_HELP_rej_bare_nl_data	       "messages rejected: bare CR or LF in the data (smuggling)"
#define SMTP_HELP_rej_cmd_too_long	       "commands rejected: line too long"
#define SMTP_HELP_rej_text_too_long	       "messages rejected: text line too long"
#define SMTP_HELP_rej_too_many_rcpt	       "recipients rejected: too many recipients"
#define SMTP_HELP_rej_size		       "messages rejected: over the size limit"
#define SMTP_HELP_rej_param		       "commands rejected: bad or unsupported parameter"
#define SMTP_HELP_rej_pregreet		       "clients that talked before the greeting"
#define SMTP_HELP_rej_timeout		       "sessions ended: client timeout"
#define SMTP_HELP_rej_errors_limit	       "sessions ended: too many errors"
#define SMTP_HELP_rej_commands_limit	       "sessions ended: too many commands"
#define SMTP_HELP_rej_no_envelope	       "transactions refused 452: no free envelope"
#define SMTP_HELP_rej_host		       "refusals (4xx/5xx) decided by the host (spool, policy)"
#define SMTP_HELP_starttls_plaintext_discarded "plaintext received after STARTTLS, discarded"
#define SMTP_HELP_rej_tls_required	       "MAIL refused 530 5.7.0 before STARTTLS ([smtp] tls = encrypt)"
#define SMTP_HELP_parked		       "sessions parked waiting for an answer (spool commit)"

/* sessions_open and slots_full_refused first, as `show stats` always showed. */
static const struct mx_ctr_def smtp_defs[] = {
	{.name = "sessions_open", .help = "SMTP sessions open now", .type = MX_CTR_GAUGE},
	{.name = "slots_full_refused",
	 .help = "connections refused with 421 4.3.2: every session slot in use",
	 .type = MX_CTR_COUNTER},
	{.name = "spool_busy_refused",
	 .help = "connections refused with 421 4.3.2 at connect: the spool refused new mail "
		 "([smtp] connect_spool_check)",
	 .type = MX_CTR_COUNTER},
#define X(n) {.name = #n, .help = SMTP_HELP_##n, .type = MX_CTR_COUNTER},
	SMTP_COUNTERS(X)
#undef X
};

static void smtp_read(void *arg, unsigned inst, uint64_t *vals)
{
	struct smtp_counters s;
	unsigned k = 0;

	(void)arg;
	smtp_server_counters(inst, &s);
	vals[k++] = smtp_server_sessions(inst);
	vals[k++] = smtp_server_refused(inst);
	vals[k++] = smtp_server_gate_refused(inst);
#define X(n) vals[k++] = s.n;
	SMTP_COUNTERS(X)
#undef X
}

static const struct mx_ctr_group smtp_group = {
	.name = "smtp",
	.scope = MX_CTR_WORKER,
	.defs = smtp_defs,
	.ndefs = sizeof(smtp_defs) / sizeof(smtp_defs[0]),
	.instances = dp_counters_workers,
	.read = smtp_read,
};

/* The session host's own counters (parks, deadlines, stale tickets): a
 * second "smtp" group, right after the engine's, names prefixed host_ (the
 * engine already counts "parked" events its way). */
static const struct mx_ctr_def smtp_host_defs[] = {
#define X(n, h) {.name = "host_" #n, .help = h, .type = MX_CTR_COUNTER},
	SMTP_HOST_COUNTERS(X)
#undef X
};

static void smtp_host_read(void *arg, unsigned inst, uint64_t *vals)
{
	struct smtp_host_counters s;
	unsigned k = 0;

	(void)arg;
	smtp_server_host_counters(inst, &s);
#define X(n, h) vals[k++] = s.n;
	SMTP_HOST_COUNTERS(X)
#undef X
}

static const struct mx_ctr_group smtp_host_group = {
	.name = "smtp",
	.scope = MX_CTR_WORKER,
	.defs = smtp_host_defs,
	.ndefs = sizeof(smtp_host_defs) / sizeof(smtp_host_defs[0]),
	.instances = dp_counters_workers,
	.read = smtp_host_read,
};

/* Admission per client (smtp/admission.h): per worker, then the shared
 * table's gauge. */
static const struct mx_ctr_def adm_defs[] = {SMTP_ADM_COUNTERS(MX_CTR_X_DEF)};

MX_CTR_LIST_READER(adm_read, SMTP_ADM_COUNTERS, smtp_adm_counters, smtp_adm_counters_read)

static const struct mx_ctr_group adm_group = {
	.name = "adm",
	.long_name = "admission",
	.scope = MX_CTR_WORKER,
	.defs = adm_defs,
	.ndefs = sizeof(adm_defs) / sizeof(adm_defs[0]),
	.instances = dp_counters_workers,
	.read = adm_read,
};

static const struct mx_ctr_def adm_table_defs[] = {
	{.name = "entries",
	 .help = "client addresses and networks in the admission table",
	 .type = MX_CTR_GAUGE},
};

static void adm_table_read(void *arg, unsigned inst, uint64_t *vals)
{
	(void)arg;
	(void)inst;
	vals[0] = smtp_adm_counters_entries();
}

static const struct mx_ctr_group adm_table_group = {
	.name = "adm",
	.long_name = "admission",
	.scope = MX_CTR_GLOBAL,
	.defs = adm_table_defs,
	.ndefs = 1,
	.read = adm_table_read,
};

__attribute__((constructor)) static void register_counters(void)
{
	if (dp_counters_register() != 0 || mx_ctr_register(&smtp_group) != 0 ||
	    mx_ctr_register(&smtp_host_group) != 0 || mx_ctr_register(&adm_group) != 0 ||
	    mx_ctr_register(&adm_table_group) != 0 || queue_counters_register() != 0)
		mx_panic("counter registry: a group could not be registered");
}
