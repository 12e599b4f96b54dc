/*
 * mxbench.c - SMTP load generator: options, worker threads, progress line,
 * final JSON report. The transports are in kworker.c (kernel sockets) and
 * dpdk_transport.c (mxgate's TCP stack on a DPDK port); the attacker thread
 * of --attack is kattack.c (kernel sockets), its pure parts attack.c.
 *
 * Output: one progress line a second on stderr, the report on stdout.
 * Exit status: 0 report written, 1 report written but no transaction
 * completed, 2 usage or set-up error.
 */
#include "bench/mxbench.h"
#include "bench/dpdk_transport.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MXBENCH_VERSION "0.1.0"

static struct bench_run run;
static unsigned workers_done;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mxbench -t HOST:PORT [options]\n"
		"SMTP load generator (kernel sockets or DPDK). Progress on stderr, JSON report on\n"
		"stdout.\n"
		"\n"
		"Target\n"
		"  -t, --target HOST:PORT     server to load, e.g. 127.0.0.1:2525 or [::1]:25\n"
		"  -b, --bind ADDR            source address of the connections (e.g. inside a\n"
		"                             netns); the port is chosen by the kernel\n"
		"\n"
		"Transport\n"
		"      --transport KIND       kernel (default): kernel TCP sockets, epoll "
		"threads;\n"
		"                             dpdk: mxgate's own TCP stack on a DPDK port, one\n"
		"                             worker lcore per thread (closed loop only; -T and\n"
		"                             -b do not apply; the target must be IPv4)\n"
		"      --dpdk-vdev ARGS       EAL --vdev of the port, e.g.\n"
		"                             "
		"'net_memif0,role=client,socket=/run/mxgate/memif.sock,"
		"\n"
		"                             socket-abstract=no' (required with dpdk)\n"
		"      --dpdk-port NAME       DPDK port to use (default: the vdev's name)\n"
		"      --dpdk-addr IP/LEN     our IPv4 address on the port, e.g. 198.18.1.1/24\n"
		"                             (required with dpdk)\n"
		"      --dpdk-gateway IP      IPv4 gateway when the target is not on-link\n"
		"      --dpdk-lcores LIST     EAL lcores: the main lcore first, then one worker\n"
		"                             lcore per bench thread (default 0@0,1@1)\n"
		"      --dpdk-prefix NAME     EAL --file-prefix (default mxbench); every DPDK\n"
		"                             process on the machine needs its own\n"
		"      --dpdk-idle-us N       worker sleep when a loop found no work; 0 = busy\n"
		"                             poll (default 0; set it when sharing CPUs)\n"
		"      --dpdk-mem MB          EAL memory without hugepages (default 256)\n"
		"      --dpdk-link-wait SECS  wait this long for link up, e.g. the memif peer\n"
		"                             (default 10); a link down for --timeout during\n"
		"                             the run aborts it (in-flight counted aborted)\n"
		"\n"
		"Load shape (the run always stops by itself: by count, duration or hard timeout)\n"
		"  -c, --connections N        closed loop: concurrent connections; open loop: the\n"
		"                             most connections open at once (default 10)\n"
		"  -m, --msgs-per-conn M      transactions per connection, then QUIT; 0 = no\n"
		"                             limit (default 100)\n"
		"  -n, --count N              transactions to start in all (default in closed "
		"loop\n"
		"                             without --duration: connections x msgs-per-conn)\n"
		"  -d, --duration SECS        start transactions for this long, then drain\n"
		"  -r, --rate R               open loop: R new transactions per second, latency\n"
		"                             from each one's intended start (needs -n or -d)\n"
		"      --arrivals KIND        open loop spacing: uniform (default) or poisson\n"
		"      --max-backlog N        open loop: arrivals that may wait for a free\n"
		"                             connection; beyond, they are counted as dropped\n"
		"                             (default 1000000)\n"
		"  -T, --threads N            worker threads, each with its own epoll loop and a\n"
		"                             share of connections and rate (default 1)\n"
		"\n"
		"Messages\n"
		"  -s, --size SPEC            message size (header + body): N[k|m|g] fixed,\n"
		"                             file:PATH (lines \"SIZE [WEIGHT]\"), or\n"
		"                             lognormal:MEDIAN:P99 (default 1k; sizes below the\n"
		"                             generated header, ~130 octets, are raised to it)\n"
		"      --size-max N           clamp sampled sizes (default 64m)\n"
		"      --rcpts N              recipients per message (default 1)\n"
		"  -P, --pipelining           pipeline MAIL/RCPT/DATA (RFC 2920) when the server\n"
		"                             advertises PIPELINING (default: off)\n"
		"  -B, --bdat                 send the message with BDAT (RFC 3030) when the\n"
		"                             server advertises CHUNKING, else DATA (default: "
		"off)\n"
		"      --chunk-size N         BDAT chunk size (default 64k)\n"
		"      --starttls             STARTTLS after EHLO, a full TLS handshake per\n"
		"                             connection, then EHLO again\n"
		"  -e, --ehlo NAME            EHLO name (default mxbench.example.test)\n"
		"      --domain D             domain for %%d in the templates (default "
		"example.test)\n"
		"      --sender TMPL          MAIL FROM address (default bench%%c@%%d)\n"
		"      --rcpt TMPL            RCPT TO address (default user%%r@%%d)\n"
		"                             templates: %%d domain, %%c connection id, %%m "
		"message\n"
		"                             number on the connection, %%r recipient index,\n"
		"                             %%t thread, %%%% a percent sign\n"
		"\n"
		"Attacks (kernel transport; attacker connections run next to the load above and\n"
		"end with it; their counts go to the report's \"attack\" section)\n"
		"      --attack MODE[,MODE]   repeatable; MODE is one of:\n"
		"                             slowloris: after the banner, one byte of a command\n"
		"                               every --attack-interval, never a line end\n"
		"                             fin-hold: EHLO, QUIT, read the 221, then keep the\n"
		"                               socket open (our FIN never sent) until the end\n"
		"                             zero-window: SO_RCVBUF --attack-rcvbuf, read the\n"
		"                               banner, pipeline --attack-cmds NOOP/HELP and\n"
		"                               never read again (the replies fill our window)\n"
		"                             pregreet: EHLO right after connect, before the\n"
		"                               banner; counts refused (554) and served (250)\n"
		"                             flood: connections as fast as --attack-rate allows,\n"
		"                               each held silently after its banner; counts 220\n"
		"                               against 421\n"
		"                             ooo: after the banner, --attack-ooo-segs segments\n"
		"                               of one octet past a hole (every other octet),\n"
		"                               injected with a raw socket into the connection\n"
		"                               (IPv4; root: CAP_NET_RAW and CAP_NET_ADMIN for\n"
		"                               TCP_REPAIR); the hole is never filled\n"
		"                             syn-flood: bare SYNs (IPv4, raw socket: root or\n"
		"                               CAP_NET_RAW) from the spoofed --attack-syn-src\n"
		"                               addresses, --attack-rate a second, --attack-\n"
		"                               total in all; nothing is read back\n"
		"                             all: every mode above but ooo and syn-flood\n"
		"      --attack-conns N       concurrent connections per mode (default 10, at\n"
		"                             most %u); a slot the server closed is opened\n"
		"                             again\n"
		"      --attack-rate R        new connections per second per mode, 0 = no limit\n"
		"                             (default 50)\n"
		"      --attack-total N       most connections per mode in the run (default\n"
		"                             10000)\n"
		"      --attack-interval SECS slowloris: seconds between bytes (default 10)\n"
		"      --attack-rcvbuf N      zero-window: SO_RCVBUF octets (default 1024; the\n"
		"                             kernel's minimum applies)\n"
		"      --attack-cmds N        zero-window: commands pipelined per connection\n"
		"                             (default 10000)\n"
		"      --attack-ooo-segs N    ooo: segments per connection (default 200)\n"
		"      --attack-src A,B,...   bind attacker connections to these source\n"
		"                             addresses in turn (e.g. several of one /24 to test\n"
		"                             per-prefix limits; they must be local addresses);\n"
		"                             default: the --bind address, if any\n"
		"      --attack-syn-src A,... syn-flood: spoofed IPv4 sources, in turn; pick\n"
		"                             addresses that do not answer (required)\n"
		"                             Reply timeouts are --timeout; the attackers stop\n"
		"                             when the load is done, at --hard-timeout or on a\n"
		"                             second signal; only the target is contacted.\n"
		"\n"
		"Refusals (the botnet case of the policy checks; bench/refusal.h)\n"
		"      --refusal MODE         every session one the server should refuse, one\n"
		"                             transaction each, replaced: helo-local (EHLO\n"
		"                             bot.local) or dnsbl (from DNSBL-listed sources);\n"
		"                             the report's \"refusal\" section has refused/s\n"
		"      --refusal-src A,B,...  dnsbl, kernel transport: source addresses in turn\n"
		"\n"
		"Time limits and output\n"
		"      --timeout SECS         connect and per-reply timeout (default 30)\n"
		"      --hard-timeout SECS    end of the whole run; what is in flight then is\n"
		"                             counted as aborted (default: duration + 2 x "
		"timeout,\n"
		"                             or 600 when bounded by count only)\n"
		"      --seed N               seed of size sampling and Poisson arrivals (default "
		"1)\n"
		"  -q, --quiet                no progress line\n"
		"  -h, --help                 this text\n"
		"\n"
		"A transaction is done only on a 250 after end of data. Every reply is parsed\n"
		"and counted by code; refusals, unexpected replies, connection errors and\n"
		"timeouts are counted in the report, never retried silently.\n"
		"Latency: txn = MAIL sent (closed loop) or intended start (open loop) to 250;\n"
		"conn_to_250 = connect() to the first 250 after end of data on it.\n"
		"Exit: 0 report written, 1 no transaction completed, 2 usage/set-up error.\n",
		BENCH_ATK_CONNS_MAX);
}

enum {
	OPT_ARRIVALS = 256,
	OPT_MAX_BACKLOG,
	OPT_SIZE_MAX,
	OPT_RCPTS,
	OPT_CHUNK,
	OPT_STARTTLS,
	OPT_DOMAIN,
	OPT_SENDER,
	OPT_RCPT,
	OPT_TIMEOUT,
	OPT_HARD_TIMEOUT,
	OPT_SEED,
	OPT_TRANSPORT,
	OPT_DPDK_VDEV,
	OPT_DPDK_PORT,
	OPT_DPDK_ADDR,
	OPT_DPDK_GW,
	OPT_DPDK_LCORES,
	OPT_DPDK_PREFIX,
	OPT_DPDK_IDLE,
	OPT_DPDK_MEM,
	OPT_DPDK_LINK_WAIT,
	OPT_ATTACK,
	OPT_ATTACK_CONNS,
	OPT_ATTACK_RATE,
	OPT_ATTACK_TOTAL,
	OPT_ATTACK_INTERVAL,
	OPT_ATTACK_RCVBUF,
	OPT_ATTACK_CMDS,
	OPT_ATTACK_SRC,
	OPT_ATTACK_SYN_SRC,
	OPT_ATTACK_OOO_SEGS,
	OPT_REFUSAL,
	OPT_REFUSAL_SRC,
};

static const struct option long_opts[] = {
	{"target", required_argument, NULL, 't'},
	{"bind", required_argument, NULL, 'b'},
	{"connections", required_argument, NULL, 'c'},
	{"msgs-per-conn", required_argument, NULL, 'm'},
	{"count", required_argument, NULL, 'n'},
	{"duration", required_argument, NULL, 'd'},
	{"rate", required_argument, NULL, 'r'},
	{"arrivals", required_argument, NULL, OPT_ARRIVALS},
	{"max-backlog", required_argument, NULL, OPT_MAX_BACKLOG},
	{"threads", required_argument, NULL, 'T'},
	{"size", required_argument, NULL, 's'},
	{"size-max", required_argument, NULL, OPT_SIZE_MAX},
	{"rcpts", required_argument, NULL, OPT_RCPTS},
	{"pipelining", no_argument, NULL, 'P'},
	{"bdat", no_argument, NULL, 'B'},
	{"chunk-size", required_argument, NULL, OPT_CHUNK},
	{"starttls", no_argument, NULL, OPT_STARTTLS},
	{"ehlo", required_argument, NULL, 'e'},
	{"domain", required_argument, NULL, OPT_DOMAIN},
	{"sender", required_argument, NULL, OPT_SENDER},
	{"rcpt", required_argument, NULL, OPT_RCPT},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"hard-timeout", required_argument, NULL, OPT_HARD_TIMEOUT},
	{"seed", required_argument, NULL, OPT_SEED},
	{"transport", required_argument, NULL, OPT_TRANSPORT},
	{"dpdk-vdev", required_argument, NULL, OPT_DPDK_VDEV},
	{"dpdk-port", required_argument, NULL, OPT_DPDK_PORT},
	{"dpdk-addr", required_argument, NULL, OPT_DPDK_ADDR},
	{"dpdk-gateway", required_argument, NULL, OPT_DPDK_GW},
	{"dpdk-lcores", required_argument, NULL, OPT_DPDK_LCORES},
	{"dpdk-prefix", required_argument, NULL, OPT_DPDK_PREFIX},
	{"dpdk-idle-us", required_argument, NULL, OPT_DPDK_IDLE},
	{"dpdk-mem", required_argument, NULL, OPT_DPDK_MEM},
	{"dpdk-link-wait", required_argument, NULL, OPT_DPDK_LINK_WAIT},
	{"attack", required_argument, NULL, OPT_ATTACK},
	{"attack-conns", required_argument, NULL, OPT_ATTACK_CONNS},
	{"attack-rate", required_argument, NULL, OPT_ATTACK_RATE},
	{"attack-total", required_argument, NULL, OPT_ATTACK_TOTAL},
	{"attack-interval", required_argument, NULL, OPT_ATTACK_INTERVAL},
	{"attack-rcvbuf", required_argument, NULL, OPT_ATTACK_RCVBUF},
	{"attack-cmds", required_argument, NULL, OPT_ATTACK_CMDS},
	{"attack-src", required_argument, NULL, OPT_ATTACK_SRC},
	{"attack-syn-src", required_argument, NULL, OPT_ATTACK_SYN_SRC},
	{"attack-ooo-segs", required_argument, NULL, OPT_ATTACK_OOO_SEGS},
	{"refusal", required_argument, NULL, OPT_REFUSAL},
	{"refusal-src", required_argument, NULL, OPT_REFUSAL_SRC},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fputs("mxbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	exit(2);
}

static uint64_t parse_u64(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		die("%s: not a number: '%s'", opt, s);
	return v;
}

static double parse_dbl(const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0) || isinf(v))
		die("%s: not a non-negative number: '%s'", opt, s);
	return v;
}

static void parse_target(struct bench_cfg *cfg, const char *s)
{
	char host[256];
	const char *port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	int rc;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			die("--target: expected [V6ADDR]:PORT, got '%s'", s);
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		port = rb + 2;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon || (size_t)(colon - s) >= sizeof(host))
			die("--target: expected HOST:PORT, got '%s'", s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc)
		die("--target %s: %s", s, gai_strerror(rc));
	memcpy(&cfg->target, ai->ai_addr, ai->ai_addrlen);
	cfg->target_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	cfg->target_str = s;
}

static void parse_bind(struct bench_cfg *cfg, const char *s)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
				 .ai_family = cfg->target.ss_family},
			*ai;
	int rc = getaddrinfo(s, "0", &hints, &ai);

	if (rc)
		die("--bind %s: %s (must be a numeric address of the target's family)", s,
		    gai_strerror(rc));
	memcpy(&cfg->src, ai->ai_addr, ai->ai_addrlen);
	cfg->src_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	cfg->src_str = s;
}

static void parse_args(struct bench_cfg *cfg, int argc, char **argv)
{
	const char *target = NULL, *bind_addr = NULL, *atk_src = NULL, *ref_src = NULL;
	const char *why = NULL;
	bool count_given = false;
	int o;

	*cfg = (struct bench_cfg){
		.conns = 10,
		.threads = 1,
		.msgs_per_conn = 100,
		.arrivals = BENCH_ARRIVAL_UNIFORM,
		.max_backlog = 1000000,
		.size_spec = "1k",
		.size_max = 64u << 20,
		.cli = {.ehlo = "mxbench.example.test",
			.sender_tmpl = "bench%c@%d",
			.rcpt_tmpl = "user%r@%d",
			.domain = "example.test",
			.rcpts = 1,
			.chunk = 64u << 10},
		.timeout = 30.0,
		.seed = 1,
		.dp = {.lcores = "0@0,1@1", .prefix = "mxbench", .mem_mb = 256, .link_wait = 10.0},
		.atk = {.conns = 10,
			.rate = 50.0,
			.total = 10000,
			.interval = 10.0,
			.zw_rcvbuf = 1024,
			.zw_cmds = 10000,
			.ooo_segs = 200},
	};
	while ((o = getopt_long(argc, argv, "t:b:c:m:n:d:r:T:s:PBe:qh", long_opts, NULL)) != -1) {
		switch (o) {
		case 't':
			target = optarg;
			break;
		case 'b':
			bind_addr = optarg;
			break;
		case 'c':
			cfg->conns = (unsigned)parse_u64("--connections", optarg);
			break;
		case 'm':
			cfg->msgs_per_conn = parse_u64("--msgs-per-conn", optarg);
			break;
		case 'n':
			cfg->count = parse_u64("--count", optarg);
			count_given = true;
			if (cfg->count == 0 || cfg->count > INT64_MAX / 2)
				die("--count: must be 1 .. 2^62");
			break;
		case 'd':
			cfg->duration = parse_dbl("--duration", optarg);
			break;
		case 'r':
			cfg->rate = parse_dbl("--rate", optarg);
			if (cfg->rate <= 0.0)
				die("--rate: must be > 0");
			break;
		case OPT_ARRIVALS:
			if (strcmp(optarg, "uniform") == 0)
				cfg->arrivals = BENCH_ARRIVAL_UNIFORM;
			else if (strcmp(optarg, "poisson") == 0)
				cfg->arrivals = BENCH_ARRIVAL_POISSON;
			else
				die("--arrivals: uniform or poisson");
			break;
		case OPT_MAX_BACKLOG:
			cfg->max_backlog = parse_u64("--max-backlog", optarg);
			break;
		case 'T':
			cfg->threads = (unsigned)parse_u64("--threads", optarg);
			break;
		case 's':
			cfg->size_spec = optarg;
			break;
		case OPT_SIZE_MAX:
			if (bench_parse_size(optarg, &cfg->size_max) < 0 || cfg->size_max == 0)
				die("--size-max: expected N[k|m|g]");
			break;
		case OPT_RCPTS:
			cfg->cli.rcpts = (unsigned)parse_u64("--rcpts", optarg);
			if (cfg->cli.rcpts < 1 || cfg->cli.rcpts > 1000)
				die("--rcpts: 1 .. 1000");
			break;
		case 'P':
			cfg->cli.pipelining = true;
			break;
		case 'B':
			cfg->cli.bdat = true;
			break;
		case OPT_CHUNK:
			if (bench_parse_size(optarg, &cfg->cli.chunk) < 0 || cfg->cli.chunk == 0)
				die("--chunk-size: expected N[k|m|g] > 0");
			break;
		case OPT_STARTTLS:
			cfg->cli.starttls = true;
			break;
		case 'e':
			cfg->cli.ehlo = optarg;
			break;
		case OPT_DOMAIN:
			cfg->cli.domain = optarg;
			break;
		case OPT_SENDER:
			cfg->cli.sender_tmpl = optarg;
			break;
		case OPT_RCPT:
			cfg->cli.rcpt_tmpl = optarg;
			break;
		case OPT_TIMEOUT:
			cfg->timeout = parse_dbl("--timeout", optarg);
			if (cfg->timeout <= 0.0)
				die("--timeout: must be > 0");
			break;
		case OPT_HARD_TIMEOUT:
			cfg->hard_timeout = parse_dbl("--hard-timeout", optarg);
			if (cfg->hard_timeout <= 0.0)
				die("--hard-timeout: must be > 0");
			break;
		case OPT_SEED:
			cfg->seed = parse_u64("--seed", optarg);
			break;
		case OPT_TRANSPORT:
			if (strcmp(optarg, "kernel") == 0)
				cfg->dpdk = false;
			else if (strcmp(optarg, "dpdk") == 0)
				cfg->dpdk = true;
			else
				die("--transport: kernel or dpdk");
			break;
		case OPT_DPDK_VDEV:
			cfg->dp.vdev = optarg;
			break;
		case OPT_DPDK_PORT:
			cfg->dp.port = optarg;
			break;
		case OPT_DPDK_ADDR:
			cfg->dp.addr = optarg;
			break;
		case OPT_DPDK_GW:
			cfg->dp.gw = optarg;
			break;
		case OPT_DPDK_LCORES:
			cfg->dp.lcores = optarg;
			break;
		case OPT_DPDK_PREFIX:
			cfg->dp.prefix = optarg;
			break;
		case OPT_DPDK_IDLE:
			cfg->dp.idle_us = (unsigned)parse_u64("--dpdk-idle-us", optarg);
			if (cfg->dp.idle_us > 100000)
				die("--dpdk-idle-us: 0 .. 100000");
			break;
		case OPT_DPDK_MEM:
			cfg->dp.mem_mb = (unsigned)parse_u64("--dpdk-mem", optarg);
			if (cfg->dp.mem_mb < 64 || cfg->dp.mem_mb > 65536)
				die("--dpdk-mem: 64 .. 65536");
			break;
		case OPT_DPDK_LINK_WAIT:
			cfg->dp.link_wait = parse_dbl("--dpdk-link-wait", optarg);
			break;
		case OPT_ATTACK:
			if (bench_atk_parse_modes(&cfg->atk.modes, optarg) < 0)
				die("--attack: '%s': modes are slowloris, fin-hold, zero-window, "
				    "pregreet, flood, ooo, syn-flood, all",
				    optarg);
			break;
		case OPT_ATTACK_CONNS:
			cfg->atk.conns = (unsigned)parse_u64("--attack-conns", optarg);
			if (cfg->atk.conns < 1 || cfg->atk.conns > BENCH_ATK_CONNS_MAX)
				die("--attack-conns: 1 .. %u", BENCH_ATK_CONNS_MAX);
			break;
		case OPT_ATTACK_RATE:
			cfg->atk.rate = parse_dbl("--attack-rate", optarg);
			break;
		case OPT_ATTACK_TOTAL:
			cfg->atk.total = parse_u64("--attack-total", optarg);
			if (cfg->atk.total < 1)
				die("--attack-total: must be >= 1");
			break;
		case OPT_ATTACK_INTERVAL:
			cfg->atk.interval = parse_dbl("--attack-interval", optarg);
			if (cfg->atk.interval < 0.001 || cfg->atk.interval > 3600.0)
				die("--attack-interval: 0.001 .. 3600 seconds");
			break;
		case OPT_ATTACK_RCVBUF:
			cfg->atk.zw_rcvbuf = (unsigned)parse_u64("--attack-rcvbuf", optarg);
			if (cfg->atk.zw_rcvbuf < 1 || cfg->atk.zw_rcvbuf > (1u << 20))
				die("--attack-rcvbuf: 1 .. 1048576");
			break;
		case OPT_ATTACK_CMDS:
			cfg->atk.zw_cmds = (unsigned)parse_u64("--attack-cmds", optarg);
			if (cfg->atk.zw_cmds < 1 || cfg->atk.zw_cmds > 10000000)
				die("--attack-cmds: 1 .. 10000000");
			break;
		case OPT_ATTACK_SRC:
			atk_src = optarg;
			break;
		case OPT_REFUSAL:
			if (bench_ref_parse_mode(&cfg->refusal, optarg) < 0)
				die("--refusal: '%s': helo-local or dnsbl", optarg);
			break;
		case OPT_REFUSAL_SRC:
			ref_src = optarg;
			break;
		case OPT_ATTACK_OOO_SEGS:
			cfg->atk.ooo_segs = (unsigned)parse_u64("--attack-ooo-segs", optarg);
			if (cfg->atk.ooo_segs < 1 || cfg->atk.ooo_segs > 10000)
				die("--attack-ooo-segs: 1 .. 10000");
			break;
		case OPT_ATTACK_SYN_SRC:
			if (bench_atk_parse_syn_src(&cfg->atk, optarg) < 0)
				die("--attack-syn-src %s: numeric IPv4 addresses, at most %u",
				    optarg, BENCH_ATK_SRC_MAX);
			break;
		case 'q':
			cfg->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (!target)
		die("--target HOST:PORT is required (see --help)");
	parse_target(cfg, target);
	if (bind_addr)
		parse_bind(cfg, bind_addr);
	if (atk_src) {
		if (!cfg->atk.modes)
			die("--attack-src needs --attack");
		if (bench_atk_parse_src(&cfg->atk, atk_src, cfg->target.ss_family) < 0)
			die("--attack-src %s: numeric addresses of the target's family, at most %u",
			    atk_src, BENCH_ATK_SRC_MAX);
		cfg->atk.src_str = atk_src;
	} else if (cfg->atk.modes && cfg->src_len) {
		cfg->atk.src[0] = cfg->src;
		cfg->atk.src_len[0] = cfg->src_len;
		cfg->atk.nsrc = 1;
		cfg->atk.src_str = cfg->src_str;
	}
	if (ref_src && bench_ref_parse_src(&cfg->refusal, ref_src, cfg->target.ss_family) < 0)
		die("--refusal-src %s: numeric addresses of the target's family, at most %u",
		    ref_src, BENCH_ATK_SRC_MAX);
	if ((cfg->atk.modes & (1u << BENCH_ATK_OOO)) && cfg->target.ss_family != AF_INET)
		die("--attack ooo: IPv4 targets only");
	if (cfg->atk.modes & (1u << BENCH_ATK_SYN_FLOOD)) {
		if (!cfg->atk.nsyn_src)
			die("--attack syn-flood needs --attack-syn-src (spoofed sources)");
		if (cfg->target.ss_family != AF_INET)
			die("--attack syn-flood: IPv4 targets only");
	}
	if (cfg->cli.starttls && bench_tls_init(0) < 0)
		die("--starttls: cannot set up OpenSSL");
	if (cfg->dpdk && cfg->atk.modes)
		die("--attack runs on the kernel transport only (not yet supported with dpdk)");
	if (cfg->dpdk) {
		if (!cfg->dp.vdev || !cfg->dp.addr)
			die("--transport dpdk needs --dpdk-vdev and --dpdk-addr (see --help)");
		if (bind_addr)
			die("--bind does not apply to --transport dpdk (use --dpdk-addr)");
		if (cfg->rate > 0.0)
			die("--rate: the dpdk transport runs the closed loop only (not yet "
			    "supported)");
	}
	if (cfg->conns < 1)
		die("--connections: must be >= 1");
	if (cfg->threads < 1 || cfg->threads > 256)
		die("--threads: 1 .. 256");
	if (cfg->threads > cfg->conns)
		cfg->threads = cfg->conns;
	if (strlen(cfg->cli.ehlo) >= BENCH_ADDR_MAX)
		die("--ehlo: too long");
	if (cfg->rate > 0.0) {
		if (!cfg->count && cfg->duration <= 0.0)
			die("open loop (--rate) needs --count or --duration to stop");
	} else if (!cfg->count && cfg->duration <= 0.0) {
		if (!cfg->msgs_per_conn)
			die("closed loop needs --count, --duration or --msgs-per-conn > 0 to stop");
		cfg->count = (uint64_t)cfg->conns * cfg->msgs_per_conn;
	}
	/* N connections x M messages each, unless a count or a duration asks
	 * for more: then connections that reach M are replaced. */
	cfg->refill = count_given || cfg->duration > 0.0;
	if ((why = bench_ref_apply(cfg)))
		die("--refusal: %s", why);
	{
		char probe[BENCH_ADDR_MAX];

		if (bench_cli_expand(probe, sizeof(probe), cfg->cli.sender_tmpl, cfg->cli.domain,
				     UINT64_MAX, UINT64_MAX, 1000, 256) < 0)
			die("--sender: unknown %% escape or too long");
		if (bench_cli_expand(probe, sizeof(probe), cfg->cli.rcpt_tmpl, cfg->cli.domain,
				     UINT64_MAX, UINT64_MAX, 1000, 256) < 0)
			die("--rcpt: unknown %% escape or too long");
	}
	if (bench_sizes_parse(&cfg->sizes, cfg->size_spec, cfg->size_max, &why) < 0)
		die("--size %s: %s", cfg->size_spec, why ? why : "invalid");
	if (cfg->hard_timeout <= 0.0)
		cfg->hard_timeout =
			cfg->duration > 0.0 ? cfg->duration + 2.0 * cfg->timeout : 600.0;
}

static void on_signal(int sig)
{
	(void)sig;
	__atomic_add_fetch(&run.stop, 1, __ATOMIC_RELAXED);
}

static void *worker_thread(void *arg)
{
	bench_kworker_main(arg);
	__atomic_add_fetch(&workers_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Sum the counters of all workers into @t (histograms included). */
static void collect(struct bench_worker *w, unsigned n, struct bench_wstats *t)
{
	memset(t, 0, sizeof(*t));
	mx_hist_init(&t->h_txn);
	mx_hist_init(&t->h_conn_250);
	mx_hist_init(&t->h_connect);
	mx_hist_init(&t->h_lag);
	mx_hist_init(&t->tls.h_handshake);
	for (unsigned i = 0; i < n; i++) {
		const struct bench_wstats *s = &w[i].st;

#define SUM(f) t->f += BENCH_GET(s->f)
		SUM(txn_started);
		SUM(txn_done);
		SUM(txn_failed);
		SUM(txn_aborted);
		SUM(msg_bytes);
		SUM(arrivals);
		SUM(arrivals_dropped);
		SUM(inflight);
		SUM(backlog);
		SUM(conn_attempts);
		SUM(conn_ok);
		SUM(conn_refused);
		SUM(conn_failed);
		SUM(conn_quit);
		SUM(conn_eof);
		SUM(conn_io_err);
		SUM(conn_broken);
		SUM(conns_open);
		SUM(timeout_connect);
		SUM(timeout_reply);
		SUM(malformed);
		SUM(replies);
		SUM(bytes_out);
		SUM(bytes_in);
		SUM(cli.unexpected);
		SUM(cli.rcpt_rejected);
		SUM(cli.no_pipelining);
		SUM(cli.no_chunking);
		SUM(cli.rset);
		for (unsigned c = 0; c < BENCH_CODES; c++)
			SUM(by_code[c]);
#undef SUM
		mx_hist_merge(&t->h_txn, &s->h_txn);
		mx_hist_merge(&t->h_conn_250, &s->h_conn_250);
		mx_hist_merge(&t->h_connect, &s->h_connect);
		mx_hist_merge(&t->h_lag, &s->h_lag);
		bench_tls_stats_sum(&t->tls, &s->tls);
		t->hard_stop |= s->hard_stop;
		if (s->end_ns > t->end_ns)
			t->end_ns = s->end_ns;
		if (s->last_err[0])
			memcpy(t->last_err, s->last_err, sizeof(t->last_err));
	}
}

static uint64_t errors_of(const struct bench_wstats *t)
{
	return t->conn_refused + t->conn_failed + t->conn_eof + t->conn_io_err + t->conn_broken +
	       t->timeout_connect + t->timeout_reply + t->malformed;
}

static void progress(struct bench_worker *w, unsigned n, double secs, uint64_t *last_done,
		     double *last_secs)
{
	struct bench_wstats *t = malloc(sizeof(*t));
	double rate;

	if (!t)
		return;
	collect(w, n, t);
	rate = secs > *last_secs ? (double)(t->txn_done - *last_done) / (secs - *last_secs) : 0;
	fprintf(stderr,
		"mxbench: %5.0fs %9.0f txn/s  done %llu  failed %llu  inflight %llu  backlog "
		"%llu  conns %llu  errors %llu  p99 %.3f ms\n",
		secs, rate, (unsigned long long)t->txn_done, (unsigned long long)t->txn_failed,
		(unsigned long long)t->inflight, (unsigned long long)t->backlog,
		(unsigned long long)t->conns_open, (unsigned long long)errors_of(t),
		(double)mx_hist_percentile(&t->h_txn, 99.0) / 1e6);
	*last_done = t->txn_done;
	*last_secs = secs;
	free(t);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_hist(FILE *f, const char *name, const struct mx_hist *h, const char *end)
{
	fprintf(f,
		"    \"%s\": {\"count\": %llu, \"min\": %.3f, \"mean\": %.3f, \"p50\": %.3f, "
		"\"p90\": %.3f, \"p99\": %.3f, \"p99_9\": %.3f, \"max\": %.3f}%s\n",
		name, (unsigned long long)h->count, h->count ? (double)h->min / 1e3 : 0.0,
		mx_hist_mean(h) / 1e3, (double)mx_hist_percentile(h, 50.0) / 1e3,
		(double)mx_hist_percentile(h, 90.0) / 1e3,
		(double)mx_hist_percentile(h, 99.0) / 1e3,
		(double)mx_hist_percentile(h, 99.9) / 1e3, (double)h->max / 1e3, end);
}

static const char *size_kind(const struct bench_sizes *s)
{
	switch (s->kind) {
	case BENCH_SIZE_FIXED:
		return "fixed";
	case BENCH_SIZE_TABLE:
		return "file";
	case BENCH_SIZE_LOGNORMAL:
		return "lognormal";
	}
	return "?";
}

static void report(FILE *f, const struct bench_cfg *cfg, const struct bench_wstats *t,
		   const struct bench_attacker *atk, double elapsed, const struct rusage *ru)
{
	double user = (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6;
	double sys = (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
	bool first = true;

	fprintf(f, "{\n  \"tool\": \"mxbench\",\n  \"version\": \"%s\",\n", MXBENCH_VERSION);
	fprintf(f, "  \"transport\": \"%s\",\n  \"config\": {\n    \"target\": ",
		cfg->dpdk ? "dpdk" : "kernel");
	json_str(f, cfg->target_str);
	fprintf(f, ",\n    \"bind\": ");
	if (cfg->src_str)
		json_str(f, cfg->src_str);
	else
		fprintf(f, "null");
	fprintf(f,
		",\n    \"mode\": \"%s\",\n    \"connections\": %u,\n    \"threads\": %u,\n"
		"    \"msgs_per_conn\": %llu,\n    \"count\": %llu,\n    \"duration_s\": %.3f,\n"
		"    \"rate\": %.3f,\n    \"arrivals\": \"%s\",\n",
		cfg->rate > 0 ? "open" : "closed", cfg->conns, cfg->threads,
		(unsigned long long)cfg->msgs_per_conn, (unsigned long long)cfg->count,
		cfg->duration, cfg->rate,
		cfg->arrivals == BENCH_ARRIVAL_POISSON ? "poisson" : "uniform");
	fprintf(f, "    \"size\": ");
	json_str(f, cfg->size_spec);
	fprintf(f,
		",\n    \"size_kind\": \"%s\",\n    \"size_max\": %zu,\n    \"rcpts\": %u,\n"
		"    \"pipelining\": %s,\n    \"bdat\": %s,\n    \"chunk_size\": %zu,\n"
		"    \"starttls\": %s,\n    \"ehlo\": ",
		size_kind(&cfg->sizes), cfg->size_max, cfg->cli.rcpts,
		cfg->cli.pipelining ? "true" : "false", cfg->cli.bdat ? "true" : "false",
		cfg->cli.chunk, cfg->cli.starttls ? "true" : "false");
	json_str(f, cfg->cli.ehlo);
	fprintf(f, ",\n    \"sender\": ");
	json_str(f, cfg->cli.sender_tmpl);
	fprintf(f, ",\n    \"rcpt\": ");
	json_str(f, cfg->cli.rcpt_tmpl);
	fprintf(f, ",\n    \"domain\": ");
	json_str(f, cfg->cli.domain);
	fprintf(f,
		",\n    \"timeout_s\": %.3f,\n    \"hard_timeout_s\": %.3f,\n    \"seed\": %llu\n"
		"  },\n",
		cfg->timeout, cfg->hard_timeout, (unsigned long long)cfg->seed);
	fprintf(f, "  \"elapsed_s\": %.6f,\n", elapsed);
	/* Why issuing ended; "hard_timeout"/"abort" mean work was cut off. */
	fprintf(f, "  \"stop_reason\": \"%s\",\n",
		t->hard_stop ? (__atomic_load_n(&run.stop, __ATOMIC_RELAXED) >= 2 ? "abort"
										  : "hard_timeout")
		: __atomic_load_n(&run.stop, __ATOMIC_RELAXED)			   ? "signal"
		: cfg->count && t->txn_started + t->arrivals_dropped >= cfg->count ? "count"
										   : "duration");
	fprintf(f, "  \"clean\": %s,\n",
		errors_of(t) || t->txn_failed || t->txn_aborted || t->cli.unexpected ||
				t->arrivals_dropped || t->hard_stop
			? "false"
			: "true");
	fprintf(f,
		"  \"counts\": {\n    \"txn_started\": %llu,\n    \"txn_done\": %llu,\n"
		"    \"txn_failed\": %llu,\n    \"txn_aborted\": %llu,\n"
		"    \"arrivals\": %llu,\n    \"arrivals_dropped\": %llu,\n"
		"    \"conn_attempts\": %llu,\n    \"conn_ok\": %llu,\n"
		"    \"conn_refused\": %llu,\n    \"conn_failed\": %llu,\n"
		"    \"conn_quit\": %llu,\n    \"conn_closed_by_server\": %llu,\n"
		"    \"conn_io_errors\": %llu,\n    \"conn_protocol_errors\": %llu,\n"
		"    \"timeout_connect\": %llu,\n    \"timeout_reply\": %llu,\n"
		"    \"malformed_replies\": %llu,\n    \"unexpected_replies\": %llu,\n"
		"    \"rcpt_rejected\": %llu,\n    \"rset_sent\": %llu,\n"
		"    \"sessions_without_pipelining\": %llu,\n"
		"    \"sessions_without_chunking\": %llu,\n"
		"    \"replies\": %llu,\n    \"replies_by_code\": {",
		(unsigned long long)t->txn_started, (unsigned long long)t->txn_done,
		(unsigned long long)t->txn_failed, (unsigned long long)t->txn_aborted,
		(unsigned long long)t->arrivals, (unsigned long long)t->arrivals_dropped,
		(unsigned long long)t->conn_attempts, (unsigned long long)t->conn_ok,
		(unsigned long long)t->conn_refused, (unsigned long long)t->conn_failed,
		(unsigned long long)t->conn_quit, (unsigned long long)t->conn_eof,
		(unsigned long long)t->conn_io_err, (unsigned long long)t->conn_broken,
		(unsigned long long)t->timeout_connect, (unsigned long long)t->timeout_reply,
		(unsigned long long)t->malformed, (unsigned long long)t->cli.unexpected,
		(unsigned long long)t->cli.rcpt_rejected, (unsigned long long)t->cli.rset,
		(unsigned long long)t->cli.no_pipelining, (unsigned long long)t->cli.no_chunking,
		(unsigned long long)t->replies);
	for (unsigned c = 0; c < BENCH_CODES; c++) {
		if (!t->by_code[c])
			continue;
		fprintf(f, "%s\"%u\": %llu", first ? "" : ", ", c,
			(unsigned long long)t->by_code[c]);
		first = false;
	}
	fprintf(f,
		"},\n    \"bytes_sent\": %llu,\n    \"bytes_received\": %llu,\n"
		"    \"message_bytes_done\": %llu\n  },\n",
		(unsigned long long)t->bytes_out, (unsigned long long)t->bytes_in,
		(unsigned long long)t->msg_bytes);
	fprintf(f,
		"  \"rates\": {\n    \"txn_per_s\": %.3f,\n    \"conn_per_s\": %.3f,\n"
		"    \"message_bytes_per_s\": %.1f,\n    \"offered_txn_per_s\": %.3f\n  },\n",
		elapsed > 0 ? (double)t->txn_done / elapsed : 0.0,
		elapsed > 0 ? (double)t->conn_ok / elapsed : 0.0,
		elapsed > 0 ? (double)t->msg_bytes / elapsed : 0.0, cfg->rate);
	fprintf(f, "  \"latency_us\": {\n");
	json_hist(f, "txn", &t->h_txn, ",");
	json_hist(f, "conn_to_250", &t->h_conn_250, ",");
	json_hist(f, "connect", &t->h_connect, ",");
	json_hist(f, "schedule_lag", &t->h_lag, "");
	fprintf(f, "  },\n  \"histogram_relative_error\": %.5f,\n", MX_HIST_REL_ERR);
	if (cfg->cli.starttls) {
		bench_tls_report_json(f, &t->tls, elapsed);
		fprintf(f, ",\n");
	}
	if (atk) {
		bench_atk_report_json(f, &cfg->atk, atk->st);
		fprintf(f, ",\n");
	}
	if (cfg->refusal.mode) {
		bench_ref_report_json(f, cfg, t, elapsed);
		fprintf(f, ",\n");
	}
	fprintf(f,
		"  \"cpu\": {\"user_s\": %.3f, \"sys_s\": %.3f, \"cpu_us_per_txn\": %.3f},\n"
		"  \"last_error\": ",
		user, sys, t->txn_done ? (user + sys) * 1e6 / (double)t->txn_done : 0.0);
	if (t->last_err[0])
		json_str(f, t->last_err);
	else
		fprintf(f, "null");
	fprintf(f, "\n}\n");
}

int main(int argc, char **argv)
{
	static struct bench_cfg cfg;
	struct bench_worker *w;
	struct bench_wstats *tot;
	struct bench_attacker *atk = NULL;
	pthread_t *tid, atk_tid;
	struct sigaction sa = {.sa_handler = on_signal};
	struct rusage ru;
	uint64_t last_done = 0, end;
	double last_secs = 0.0, elapsed;
	unsigned next_tick = 1;
	uint64_t link_down = 0; /* when the DPDK link went down, 0: up */
	int rc;

	parse_args(&cfg, argc, argv);
	bench_cli_global_init();
	if (cfg.dpdk) {
		/* Before the signal handlers: the EAL installs none of its own. */
		int nw = bench_dpdk_boot(&cfg, argv[0]);

		if (nw < 1)
			die("--transport dpdk: the dataplane did not start (see above)");
		cfg.threads = (unsigned)nw;
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	w = calloc(cfg.threads, sizeof(*w));
	tid = calloc(cfg.threads, sizeof(*tid));
	tot = malloc(sizeof(*tot));
	if (!w || !tid || !tot)
		die("out of memory");
	run.cfg = &cfg;
	run.t0_ns = bench_now_ns();
	run.issue_end_ns =
		cfg.duration > 0 ? run.t0_ns + (uint64_t)(cfg.duration * 1e9) : UINT64_MAX;
	run.hard_end_ns = run.t0_ns + (uint64_t)(cfg.hard_timeout * 1e9);
	run.budget = cfg.count ? (int64_t)cfg.count : INT64_MAX / 2;
	if (cfg.atk.modes) {
		atk = malloc(sizeof(*atk));
		if (!atk)
			die("out of memory");
		atk->cfg = &cfg;
		atk->run = &run;
		atk->rc = 0;
		for (unsigned m = 0; m < BENCH_ATK_MODES; m++)
			bench_atk_stats_init(&atk->st[m]);
		if (pthread_create(&atk_tid, NULL, bench_kattack_main, atk))
			die("pthread_create failed");
	}
	for (unsigned i = 0; i < cfg.threads; i++) {
		w[i].cfg = &cfg;
		w[i].run = &run;
		w[i].id = i;
		w[i].conns = cfg.conns / cfg.threads + (i < cfg.conns % cfg.threads);
		w[i].rate = cfg.rate / cfg.threads;
		w[i].phase_ns = cfg.rate > 0 ? (uint64_t)(i * 1e9 / cfg.rate) : 0;
		w[i].cli = cfg.cli;
		w[i].cli.thread = i;
		mx_hist_init(&w[i].st.h_txn);
		mx_hist_init(&w[i].st.h_conn_250);
		mx_hist_init(&w[i].st.h_connect);
		mx_hist_init(&w[i].st.h_lag);
		mx_hist_init(&w[i].st.tls.h_handshake);
		if (!cfg.dpdk && pthread_create(&tid[i], NULL, worker_thread, &w[i]))
			die("pthread_create failed");
	}
	if (cfg.dpdk)
		bench_dpdk_go(w, &workers_done);
	while (__atomic_load_n(&workers_done, __ATOMIC_ACQUIRE) < cfg.threads) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		double secs;

		nanosleep(&ts, NULL);
		if (cfg.dpdk) {
			bench_dpdk_drain_logs();
			if (bench_dpdk_link_up()) {
				if (link_down)
					fprintf(stderr, "mxbench: DPDK port link up again\n");
				link_down = 0;
			} else if (!link_down) {
				/* The peer left (memif: mxgate stopped or crashed). */
				fprintf(stderr, "mxbench: DPDK port link down\n");
				link_down = bench_now_ns();
			} else if (bench_now_ns() - link_down >= (uint64_t)(cfg.timeout * 1e9) &&
				   __atomic_load_n(&run.stop, __ATOMIC_RELAXED) < 2) {
				/* Down for a whole timeout: end the run, what is in
				 * flight is counted as aborted. */
				fprintf(stderr, "mxbench: DPDK port link down for %.0f s: abort\n",
					cfg.timeout);
				__atomic_store_n(&run.stop, 2, __ATOMIC_RELAXED);
			}
		}
		secs = (double)(bench_now_ns() - run.t0_ns) / 1e9;
		if (!cfg.quiet && secs >= next_tick) {
			progress(w, cfg.threads, secs, &last_done, &last_secs);
			next_tick = (unsigned)secs + 1;
		}
	}
	if (cfg.dpdk)
		bench_dpdk_stop();
	else
		for (unsigned i = 0; i < cfg.threads; i++)
			pthread_join(tid[i], NULL);
	end = bench_now_ns();
	if (atk) {
		/* The load is over: the attackers end with it. */
		__atomic_store_n(&run.attack_stop, 1, __ATOMIC_RELEASE);
		pthread_join(atk_tid, NULL);
		if (atk->rc)
			fprintf(stderr, "mxbench: attacker thread failed: %s\n",
				strerror(-atk->rc));
	}
	getrusage(RUSAGE_SELF, &ru);
	collect(w, cfg.threads, tot);
	elapsed = (double)((tot->end_ns ? tot->end_ns : end) - run.t0_ns) / 1e9;
	for (unsigned i = 0; i < cfg.threads; i++)
		if (w[i].rc)
			fprintf(stderr, "mxbench: worker %u failed: %s\n", i, strerror(-w[i].rc));
	if (!cfg.quiet)
		fprintf(stderr,
			"mxbench: done in %.2fs: %llu txn done (%.0f/s), %llu failed, %llu "
			"aborted, %llu errors%s%s\n",
			elapsed, (unsigned long long)tot->txn_done,
			elapsed > 0 ? (double)tot->txn_done / elapsed : 0.0,
			(unsigned long long)tot->txn_failed, (unsigned long long)tot->txn_aborted,
			(unsigned long long)errors_of(tot), tot->last_err[0] ? "; last: " : "",
			tot->last_err);
	if (atk && !cfg.quiet)
		bench_atk_report_text(stderr, &cfg.atk, atk->st);
	if (cfg.refusal.mode && !cfg.quiet)
		bench_ref_report_text(stderr, &cfg, tot, elapsed);
	report(stdout, &cfg, tot, atk, elapsed, &ru);
	fflush(stdout);
	bench_sizes_free(&cfg.sizes);
	rc = (cfg.refusal.mode ? bench_ref_refused(tot) : tot->txn_done) ? 0 : 1;
	free(tot);
	free(atk);
	free(tid);
	free(w);
	return rc;
}
