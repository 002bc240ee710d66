/* cmd-serve.c: `strata serve`: the store as an OCI Distribution registry until SIGTERM or
 * SIGINT; the access log goes to stderr. */
#include "cmd.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "strata/serve.h"
#include "strata/strata.h"

static const char serve_usage[] =
        "usage: strata serve [--addr HOST:PORT] [--port-file FILE] [--name HOST]\n"
        "                    [--tls-cert PEM --tls-key PEM] [--htpasswd FILE]\n"
        "                    [--anonymous-read] [--read-only] [--enable-delete]\n"
        "                    [--threads N] [--quiet]\n\n"
        "Serves the store as an OCI Distribution registry (default 127.0.0.1:5000; port 0\n"
        "picks a free one, written to --port-file). Registry repository R is the store's\n"
        "HOST/R (--name, default localhost): `strata tag app:1 localhost/app:1` publishes\n"
        "app:1. --htpasswd requires Basic auth (bcrypt, htpasswd -B); --anonymous-read lets\n"
        "GET/HEAD through without it. SIGTERM stops gracefully: requests in flight get 30 s;\n"
        "unfinished uploads are discarded.\n";

enum {
	OPT_ADDR = 256,
	OPT_PORT_FILE,
	OPT_NAME,
	OPT_CERT,
	OPT_KEY,
	OPT_HTPASSWD,
	OPT_ANON,
	OPT_RO,
	OPT_DELETE,
	OPT_THREADS,
};

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void access_log(const struct st_serve_access *a, void *ctx)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	(void)ctx;
	strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S %z", localtime_r(&now, &tm));
	pthread_mutex_lock(&log_mu);
	fprintf(stderr, "%s - %s [%s] \"%s %s\" %u %llu %llu %.1fms\n", a->remote, a->user, when,
	        a->method, a->uri, a->status, (unsigned long long)a->bytes_in,
	        (unsigned long long)a->bytes_out, a->ms);
	pthread_mutex_unlock(&log_mu);
}

static int write_port(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static int parse_opts(int argc, char **argv, struct st_serve_opts *o, const char **port_file,
                      bool *quiet)
{
	static const struct option opts[] = {{"addr", required_argument, NULL, OPT_ADDR},
	                                     {"port-file", required_argument, NULL, OPT_PORT_FILE},
	                                     {"name", required_argument, NULL, OPT_NAME},
	                                     {"tls-cert", required_argument, NULL, OPT_CERT},
	                                     {"tls-key", required_argument, NULL, OPT_KEY},
	                                     {"htpasswd", required_argument, NULL, OPT_HTPASSWD},
	                                     {"anonymous-read", no_argument, NULL, OPT_ANON},
	                                     {"read-only", no_argument, NULL, OPT_RO},
	                                     {"enable-delete", no_argument, NULL, OPT_DELETE},
	                                     {"threads", required_argument, NULL, OPT_THREADS},
	                                     {"quiet", no_argument, NULL, 'q'},
	                                     {NULL, 0, NULL, 0}};
	uint64_t n;
	int c;

	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ADDR:
			o->addr = optarg;
			break;
		case OPT_PORT_FILE:
			*port_file = optarg;
			break;
		case OPT_NAME:
			o->name = optarg;
			break;
		case OPT_CERT:
			o->tls_cert = optarg;
			break;
		case OPT_KEY:
			o->tls_key = optarg;
			break;
		case OPT_HTPASSWD:
			o->htpasswd = optarg;
			break;
		case OPT_ANON:
			o->anonymous_read = true;
			break;
		case OPT_RO:
			o->read_only = true;
			break;
		case OPT_DELETE:
			o->enable_delete = true;
			break;
		case 'q':
			*quiet = true;
			break;
		case OPT_THREADS:
			if (st_parse_u64(optarg, &n) < 0 || n == 0 || n > 256)
				return cmd_usage_error("serve", "--threads wants 1..256");
			o->threads = (unsigned)n;
			break;
		default:
			return cmd_usage_error("serve", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (o->anonymous_read && !o->htpasswd)
		return cmd_usage_error("serve", "--anonymous-read needs --htpasswd");
	return 0;
}

/* Upload sessions hold a few descriptors each. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int cmd_serve(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_serve_opts o = {0};
	struct st_server *srv = NULL;
	struct st_store *s = NULL;
	const char *port_file = NULL;
	bool quiet = false;
	sigset_t set;
	int rc, sig = 0;

	if (cmd_wants_help(argc, argv, serve_usage))
		return 0;
	rc = parse_opts(argc, argv, &o, &port_file, &quiet);
	if (rc)
		return rc;
	o.log = quiet ? NULL : access_log;
	raise_nofile();
	/* block the stop signals before the server's threads start, so they inherit the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (cmd_open_store(&s))
		return 1;
	rc = st_serve_start(s, &o, &srv, &err);
	if (rc < 0) {
		st_store_free(s);
		return cmd_fail(&err, "serve");
	}
	if (port_file && write_port(port_file, st_serve_port(srv)) < 0)
		perror(port_file);
	if (!quiet)
		fprintf(stderr, "strata: serving '%s' on port %u\n", g_opt.root,
		        st_serve_port(srv));
	(void)sigwait(&set, &sig);
	st_serve_stop(srv, 30000);
	st_serve_free(srv);
	st_store_free(s);
	return 0;
}
