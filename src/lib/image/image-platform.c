/* image-platform.c: platform normalisation and matching with containerd's platforms.Only
 * semantics (normalize.go / compare.go): a platform also runs the older variants of its
 * architecture (amd64/v3 runs v2, v1 and 386; arm/v7 runs v6 and v5; arm64 runs arm). */
#include "image/image-internal.h"

#include <stdio.h>
#include <string.h>

#include "util/banned.h"

#define MAX_VECTOR 32

static void copy_lower(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < cap; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] - 'A' + 'a') : src[i];
	dst[i] = '\0';
}

static void set(char *dst, size_t cap, const char *s)
{
	(void)snprintf(dst, cap, "%s", s);
}

/* containerd's normalizeOS and normalizeArch. */
static void normalise(struct st_platform *p, const char *os, const char *arch, const char *variant)
{
	copy_lower(p->os, sizeof(p->os), os && *os ? os : "linux");
	copy_lower(p->arch, sizeof(p->arch), arch);
	copy_lower(p->variant, sizeof(p->variant), variant);
	if (strcmp(p->os, "macos") == 0)
		set(p->os, sizeof(p->os), "darwin");
	if (strcmp(p->arch, "i386") == 0) {
		set(p->arch, sizeof(p->arch), "386");
		p->variant[0] = '\0';
	} else if (strcmp(p->arch, "x86_64") == 0 || strcmp(p->arch, "x86-64") == 0 ||
	           strcmp(p->arch, "amd64") == 0) {
		set(p->arch, sizeof(p->arch), "amd64");
		if (strcmp(p->variant, "v1") == 0)
			p->variant[0] = '\0';
	} else if (strcmp(p->arch, "aarch64") == 0 || strcmp(p->arch, "arm64") == 0) {
		set(p->arch, sizeof(p->arch), "arm64");
		if (strcmp(p->variant, "8") == 0 || strcmp(p->variant, "v8") == 0)
			p->variant[0] = '\0';
	} else if (strcmp(p->arch, "armhf") == 0) {
		set(p->arch, sizeof(p->arch), "arm");
		set(p->variant, sizeof(p->variant), "v7");
	} else if (strcmp(p->arch, "armel") == 0) {
		set(p->arch, sizeof(p->arch), "arm");
		set(p->variant, sizeof(p->variant), "v6");
	} else if (strcmp(p->arch, "arm") == 0) {
		if (!p->variant[0] || strcmp(p->variant, "7") == 0)
			set(p->variant, sizeof(p->variant), "v7");
		else if (strcmp(p->variant, "5") == 0 || strcmp(p->variant, "6") == 0 ||
		         strcmp(p->variant, "8") == 0)
			(void)snprintf(p->variant, sizeof(p->variant), "v%c", variant[0]);
	}
}

void st_platform_host(struct st_platform *out)
{
#if defined(__x86_64__)
	normalise(out, "linux", "amd64", NULL);
#elif defined(__aarch64__)
	normalise(out, "linux", "arm64", NULL);
#elif defined(__arm__)
	normalise(out, "linux", "arm", NULL);
#elif defined(__i386__)
	normalise(out, "linux", "386", NULL);
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	normalise(out, "linux", "ppc64le", NULL);
#elif defined(__s390x__)
	normalise(out, "linux", "s390x", NULL);
#elif defined(__riscv) && __riscv_xlen == 64
	normalise(out, "linux", "riscv64", NULL);
#else
#error "unknown host architecture: add it to st_platform_host"
#endif
}

static bool valid_part(const char *s, size_t len, size_t cap)
{
	if (len == 0 || len >= cap)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

int st_platform_parse(const char *s, struct st_platform *out, struct st_error *err)
{
	char os[32] = "", arch[32] = "", variant[16] = "";
	char *parts[3] = {os, arch, variant};
	size_t caps[3] = {sizeof(os), sizeof(arch), sizeof(variant)};
	const char *p = s;
	int n = 0;

	for (;;) {
		size_t len = strcspn(p, "/");
		if (n == 3 || !valid_part(p, len, caps[n]))
			return st_error_set(err, ST_EINVALID,
			                    "platform \"%s\": expected os/arch[/variant]", s);
		memcpy(parts[n], p, len);
		parts[n++][len] = '\0';
		if (!p[len])
			break;
		p += len + 1;
	}
	if (n < 2)
		return st_error_set(err, ST_EINVALID, "platform \"%s\": expected os/arch[/variant]",
		                    s);
	normalise(out, os, arch, variant);
	return 0;
}

void st_platform_str(const struct st_platform *p, char *out)
{
	(void)snprintf(out, 80, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}

static int variant_number(const char *v, int *major, int *minor)
{
	int a = 0, b = 0, n = 0;

	if (v[0] != 'v' || v[1] < '0' || v[1] > '9')
		return -1;
	/* "v8", "v8.2" (containerd accepts only one digit of minor: len(variant) == 4) */
	for (v++; *v >= '0' && *v <= '9' && a < 1000; v++)
		a = a * 10 + (*v - '0');
	if (*v == '.' && v[1] >= '0' && v[1] <= '9' && !v[2]) {
		b = v[1] - '0';
		n = 1;
	} else if (*v) {
		return -1;
	}
	*major = a;
	*minor = b;
	return n;
}

struct vector {
	size_t n;
	struct st_platform p[MAX_VECTOR];
};

static void push(struct vector *vec, const struct st_platform *base, const char *arch,
                 const char *variant)
{
	struct st_platform *p;

	if (vec->n == MAX_VECTOR)
		return;
	p = &vec->p[vec->n++];
	*p = *base;
	set(p->arch, sizeof(p->arch), arch);
	set(p->variant, sizeof(p->variant), variant);
}

static void push_arm64(struct vector *vec, const struct st_platform *want, const char *variant);

/* containerd's platformVector: want first, then what it also runs, best first. */
static void platform_vector(struct vector *vec, const struct st_platform *want)
{
	char v[16];
	int major, minor;

	push(vec, want, want->arch, want->variant);
	if (strcmp(want->arch, "amd64") == 0) {
		if (variant_number(want->variant, &major, &minor) == 0 && major > 1)
			for (major--; major >= 1; major--) {
				(void)snprintf(v, sizeof(v), "v%d", major);
				push(vec, want, "amd64", v);
			}
		push(vec, want, "386", "");
	} else if (strcmp(want->arch, "arm") == 0) {
		if (variant_number(want->variant, &major, &minor) == 0 && major > 5)
			for (major--; major >= 5; major--) {
				(void)snprintf(v, sizeof(v), "v%d", major);
				push(vec, want, "arm", v);
			}
	} else if (strcmp(want->arch, "arm64") == 0) {
		push_arm64(vec, want, want->variant[0] ? want->variant : "v8");
	}
}

static void push_arm64(struct vector *vec, const struct st_platform *want, const char *variant)
{
	struct st_platform arm = *want;
	char v[16];
	int major, minor;

	if (variant_number(variant, &major, &minor) >= 0 && major >= 8 && major <= 9) {
		if (major == 9) {
			for (int m = minor - 1; m >= 0; m--) {
				(void)snprintf(v, sizeof(v), m ? "v9.%d" : "v9", m);
				push(vec, want, "arm64", v);
			}
			/* v9.0 diverged from v8.5: v9.x runs v8.{x+5} */
			minor = minor + 5 > 9 ? 9 : minor + 5;
			(void)snprintf(v, sizeof(v), "v8.%d", minor);
			push(vec, want, "arm64", v);
		}
		for (int m = minor - 1; m >= 0; m--) {
			(void)snprintf(v, sizeof(v), m ? "v8.%d" : "v8", m);
			push(vec, want, "arm64", v);
		}
	}
	/* every arm64 also runs 32-bit arm/v8 and below */
	set(arm.arch, sizeof(arm.arch), "arm");
	set(arm.variant, sizeof(arm.variant),
	    (strncmp(variant, "v8.", 3) == 0 || strncmp(variant, "v9.", 3) == 0) ? "v8" : variant);
	{
		struct vector sub = {0};
		platform_vector(&sub, &arm);
		for (size_t i = 0; i < sub.n; i++)
			push(vec, &sub.p[i], sub.p[i].arch, sub.p[i].variant);
	}
}

int st_platform_rank(const struct st_platform *want, const char *os, const char *arch,
                     const char *variant)
{
	struct st_platform w, have;
	struct vector vec = {0};

	normalise(&w, want->os, want->arch, want->variant);
	normalise(&have, os, arch, variant);
	platform_vector(&vec, &w);
	for (size_t i = 0; i < vec.n; i++) {
		struct st_platform m;
		normalise(&m, vec.p[i].os, vec.p[i].arch, vec.p[i].variant);
		if (strcmp(m.os, have.os) == 0 && strcmp(m.arch, have.arch) == 0 &&
		    strcmp(m.variant, have.variant) == 0)
			return (int)i;
	}
	return -1;
}

int st_index_select(const struct st_index *ix, const struct st_platform *want, struct st_error *err)
{
	struct st_platform host;
	char offered[256] = "", ws[80];
	size_t used = 0;
	int best = -1, best_rank = 0, unplatformed = -1;

	if (!want) {
		st_platform_host(&host);
		want = &host;
	}
	for (size_t i = 0; i < ix->n_manifests; i++) {
		const struct st_descriptor *d = &ix->manifests[i];
		int r;
		if (!d->os || !d->arch) {
			if (unplatformed < 0)
				unplatformed = (int)i;
			continue;
		}
		r = st_platform_rank(want, d->os, d->arch, d->variant);
		if (r >= 0 && (best < 0 || r < best_rank)) {
			best = (int)i;
			best_rank = r;
		}
		if (used < sizeof(offered) - 1)
			used += (size_t)snprintf(offered + used, sizeof(offered) - used,
			                         "%s%s/%s%s%s", used ? ", " : "", d->os, d->arch,
			                         d->variant ? "/" : "",
			                         d->variant ? d->variant : "");
	}
	if (best >= 0)
		return best;
	if (unplatformed >= 0)
		return unplatformed;
	st_platform_str(want, ws);
	return st_error_set(err, ST_ENOTFOUND, "no image for platform %s in the index (it has: %s)",
	                    ws, used ? offered : "nothing");
}
