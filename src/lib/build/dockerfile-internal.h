/* build/dockerfile-internal.h: what the Dockerfile front end's files share: an arena that owns a
 * parsed Dockerfile, Go-compatible UTF-8 and Unicode class helpers (BuildKit's behaviour depends
 * on Go's rune handling), and the line-level parsers. */
#ifndef ST_DOCKERFILE_INTERNAL_H
#define ST_DOCKERFILE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "strata/dockerfile.h"

/* ---- arena: every string and array of a parsed Dockerfile lives in one ---- */
struct st_df_arena;
struct st_df_arena *df_arena_new(void);
void df_arena_free(struct st_df_arena *a);
void *df_arena_alloc(struct st_df_arena *a, size_t size); /* zeroed, NULL on ENOMEM */
char *df_arena_strndup(struct st_df_arena *a, const char *s, size_t len);

/* A growable array of borrowed (arena) string pointers, copied into the arena when done. */
struct df_vec {
	const char **v;
	size_t *lens;
	size_t n, cap;
};
int df_vec_push(struct df_vec *vec, const char *s, struct st_error *err);
int df_vec_pushn(struct df_vec *vec, const char *s, size_t len, struct st_error *err);
void df_vec_release(struct df_vec *vec);
/* Copies the pointer array (and lengths when lens is not NULL) into the arena (*out NULL when
 * empty) and empties vec. */
int df_vec_finish(struct df_vec *vec, struct st_df_arena *a, const char ***out, const size_t **lens,
                  size_t *n, struct st_error *err);

/* ---- Go-compatible runes ---- */
#define DF_RUNE_ERROR 0xFFFDu
/* Decodes one rune as Go's utf8.DecodeRune: invalid or truncated input gives U+FFFD, width 1.
 * len must be > 0. Returns the width. */
size_t df_utf8_decode(const char *s, size_t len, uint32_t *r);
/* Encodes r (U+FFFD for surrogates and out-of-range values) into out[4]; returns the length. */
size_t df_utf8_encode(uint32_t r, char out[4]);
int df_buf_add_rune(struct st_buf *b, uint32_t r, struct st_error *err);
bool df_go_isspace(uint32_t r);  /* unicode.IsSpace */
bool df_go_isletter(uint32_t r); /* unicode.IsLetter (glibc classes beyond ASCII) */
bool df_go_isdigit(uint32_t r);  /* unicode.IsDigit */
bool df_go_isprint(uint32_t r);  /* strconv.IsPrint */
/* strings.TrimSpace / TrimLeftFunc(unicode.IsSpace) on a view. */
struct st_str df_trim_space(struct st_str s);
struct st_str df_trim_left_space(struct st_str s);
/* The [\t\v\f\r ] class BuildKit splits on. */
static inline bool df_is_ws_class(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* ---- line parsers (dockerfile-args.c) ---- */
struct df_node_out {
	struct df_vec args;
	bool json;
	struct st_df_instr *sub;
};
struct df_ctx {
	struct st_df_arena *arena;
	char escape;
	unsigned flags;
	int depth;
	int line; /* for messages */
	const char *name;
};
/* splitCommand + dispatch: builds one instruction from a logical line (ONBUILD recurses). */
int df_instr_from_line(struct df_ctx *cx, const char *line, size_t len, struct st_df_instr *out,
                       struct st_error *err);
/* dockerfile-json.c: s starts with '['. Decodes the first JSON value into out (arena copies). */
enum df_json_result { JSON_OK = 0, JSON_SYNTAX = 1, JSON_NOT_STRINGS = 2 };
int df_json_string_array(struct df_ctx *cx, struct st_str s, struct df_vec *out,
                         struct st_error *err);
/* The heredocs an instruction line opens (RUN/COPY/ADD shell form), in order. */
int df_heredocs_from_line(struct df_ctx *cx, const char *line, size_t len,
                          struct st_df_heredoc **out, size_t *n, struct st_error *err);

/* ---- shell patterns (shell-pattern.c) for ${V#p} ${V%p} ${V/p/r}: * and ? only ---- */
/* Appends value with the shortest (longest when greedy) prefix, or suffix, matching pattern
 * removed. On failure writes the reason to msg and returns -ST_EINVALID or -ST_ELIMIT. */
int df_shell_pattern_trim(const char *pattern, size_t plen, const char *value, size_t vlen,
                          bool suffix, bool greedy, struct st_buf *out, char *msg, size_t msglen);
/* Appends value with the first (or every) match of pattern replaced by repl. */
int df_shell_pattern_replace(const char *pattern, size_t plen, const char *value, size_t vlen,
                             const char *repl, size_t rlen, bool all, struct st_buf *out, char *msg,
                             size_t msglen);

/* ---- messages ---- */
/* "name:line: " prefix helper; returns -code like st_error_set. */
int df_error_at(struct st_error *err, enum st_errc code, const char *name, int line,
                const char *fmt, ...) ST_PRINTF(5, 6);
/* Levenshtein-nearest keyword, or NULL when nothing is close. */
const char *df_suggest_keyword(const char *word, size_t len);

#endif
