/* serve-server.c: the server's life: options, the listening address, TLS material, the
 * libmicrohttpd daemon (an epoll thread pool), graceful stop. */
#include "serve/serve-http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

#define CONN_MEMORY (128u << 10) /* per connection; bounds request headers: larger is 431 */
#define CONN_TIMEOUT 60u         /* seconds a connection may stay silent */
#define MAX_CONNECTIONS 1000u
#define MAX_TLS_FILE (1u << 20)

/* "HOST:PORT", "[V6]:PORT" -> a socket address. */
static int parse_addr(const char *addr, struct sockaddr_storage *out, bool *v6,
                      struct st_error *err)
{
	cleanup_free char *host = NULL;
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	const char *h;
	int rc;

	if (!colon || colon == addr || colon[1] == '\0')
		return st_error_set(err, ST_EINVALID, "address '%s': want HOST:PORT", addr);
	host = st_strndup(addr, (size_t)(colon - addr));
	if (!host)
		return st_error_set(err, ST_ENOMEM, "address");
	h = host;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		h = host + 1;
	}
	rc = getaddrinfo(h, colon + 1, &hints, &res);
	if (rc != 0)
		return st_error_set(err, ST_EINVALID, "address '%s': %s", addr, gai_strerror(rc));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

static int load_tls(struct st_server *srv, struct st_error *err)
{
	const struct st_serve_opts *o = &srv->opts;
	int rc;

	if (!o->tls_cert && !o->tls_key)
		return 0;
	if (!o->tls_cert || !o->tls_key)
		return st_error_set(err, ST_EINVALID, "TLS needs both a certificate and a key");
	rc = st_read_file_at(AT_FDCWD, o->tls_cert, &srv->cert, MAX_TLS_FILE, err);
	if (rc == 0)
		rc = st_read_file_at(AT_FDCWD, o->tls_key, &srv->key, MAX_TLS_FILE, err);
	return rc < 0 ? st_error_wrap(err, "TLS") : 0;
}

static int init(struct st_server *srv, struct st_store *store, const struct st_serve_opts *opts,
                struct st_error *err)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	srv->store = store;
	srv->opts = *opts;
	srv->repos_fd = -1;
	srv->cert = (struct st_buf)ST_BUF_INIT;
	srv->key = (struct st_buf)ST_BUF_INIT;
	pthread_mutex_init(&srv->write_mu, NULL);
	pthread_mutex_init(&srv->up_mu, NULL);
	pthread_mutex_init(&srv->act_mu, NULL);
	pthread_cond_init(&srv->act_cv, NULL);
	if (!srv->opts.threads)
		srv->opts.threads = (unsigned)(ncpu > 0 ? 4 * ncpu : 4);
	if (!srv->opts.max_uploads)
		srv->opts.max_uploads = 128;
	if (!srv->opts.upload_idle)
		srv->opts.upload_idle = 600;
	srv->n_ups_max = srv->opts.max_uploads;
	srv->ups = calloc(srv->n_ups_max, sizeof(*srv->ups));
	srv->name = strdup(opts->name ? opts->name : "localhost");
	if (!srv->ups || !srv->name)
		return st_error_set(err, ST_ENOMEM, "server");
	rc = st_digest_pool_new(0, &srv->hashers, err);
	if (rc < 0)
		return rc;
	if (st_ref_valid_repository(srv->name, NULL) < 0 && !strchr(srv->name, ':') &&
	    !strchr(srv->name, '.'))
		return st_error_set(err, ST_EINVALID, "--name '%s' is not a registry host",
		                    opts->name);
	rc = srv->repos_fd = srv_repos_open(store, err);
	if (rc < 0)
		return rc;
	if (opts->htpasswd && (rc = srv_auth_load(opts->htpasswd, &srv->auth, err)) < 0)
		return rc;
	return load_tls(srv, err);
}

static int start_daemon(struct st_server *srv, struct st_error *err)
{
	struct sockaddr_storage sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
	                 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	bool v6 = false;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	int rc = parse_addr(srv->opts.addr ? srv->opts.addr : "127.0.0.1:5000", &sa, &v6, err);

	if (rc < 0)
		return rc;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (srv->cert.len)
		flags |= MHD_USE_TLS;
	d = MHD_start_daemon(
	        flags, 0, NULL, NULL, srv_on_request, srv, MHD_OPTION_THREAD_POOL_SIZE,
	        (unsigned)srv->opts.threads, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	        MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT,
	        MAX_CONNECTIONS, MHD_OPTION_NOTIFY_COMPLETED, srv_on_completed, srv,
	        MHD_OPTION_URI_LOG_CALLBACK, srv_on_uri, srv, MHD_OPTION_EXTERNAL_LOGGER,
	        srv_mhd_log, srv, MHD_OPTION_HTTPS_MEM_CERT, srv->cert.len ? srv->cert.data : NULL,
	        MHD_OPTION_HTTPS_MEM_KEY, srv->key.len ? srv->key.data : NULL, MHD_OPTION_END);
	if (!d)
		return st_error_set(err, ST_ESYS,
		                    "cannot listen on '%s' (in use, or bad TLS files)",
		                    srv->opts.addr ? srv->opts.addr : "127.0.0.1:5000");
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	srv->daemon = d;
	return 0;
}

int st_serve_start(struct st_store *store, const struct st_serve_opts *opts, struct st_server **out,
                   struct st_error *err)
{
	struct st_server *srv;
	int rc = st_mhd_load(err);

	if (rc < 0)
		return rc;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return st_error_set(err, ST_ENOMEM, "server");
	rc = init(srv, store, opts, err);
	if (rc == 0)
		rc = start_daemon(srv, err);
	if (rc < 0) {
		st_serve_free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

unsigned st_serve_port(const struct st_server *srv)
{
	return srv->port;
}

void st_serve_stop(struct st_server *srv, unsigned grace_ms)
{
	struct timespec until;
	MHD_socket ls;

	if (!srv || srv->stopped)
		return;
	pthread_mutex_lock(&srv->up_mu);
	srv->stopped = true; /* no new upload sessions */
	pthread_mutex_unlock(&srv->up_mu);
	if (srv->daemon) {
		ls = MHD_quiesce_daemon(srv->daemon);
		if (ls != MHD_INVALID_SOCKET)
			(void)close(ls);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += grace_ms / 1000;
		until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&srv->act_mu);
		while (srv->active > 0 &&
		       pthread_cond_timedwait(&srv->act_cv, &srv->act_mu, &until) == 0)
			;
		pthread_mutex_unlock(&srv->act_mu);
		MHD_stop_daemon(srv->daemon);
		srv->daemon = NULL;
	}
	srv_upload_free_all(srv); /* uncommitted uploads vanish with their O_TMPFILE */
}

void st_serve_free(struct st_server *srv)
{
	if (!srv)
		return;
	if (srv->daemon)
		st_serve_stop(srv, 0);
	srv_upload_free_all(srv);
	st_digest_pool_free(srv->hashers); /* after the uploads: their streams are closed */
	srv_auth_free(srv->auth);
	if (srv->repos_fd >= 0)
		(void)close(srv->repos_fd);
	st_buf_release(&srv->cert);
	st_buf_release(&srv->key);
	free(srv->ups);
	free(srv->name);
	pthread_mutex_destroy(&srv->write_mu);
	pthread_mutex_destroy(&srv->up_mu);
	pthread_mutex_destroy(&srv->act_mu);
	pthread_cond_destroy(&srv->act_cv);
	free(srv);
}
