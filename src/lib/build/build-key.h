/* build/build-key.h: a step's cache key as named items, so that a miss can say what changed.
 * The key is sha256 over ("strata-build-v2", then per item: its label, NUL, the sha256 of its
 * bytes); each item is hashed on its own ("parent", "instruction", "arg NAME", "file /dst",
 * ...). The labels and item digests, one line each, are the step's record: cache/explain/
 * keeps the last one per Dockerfile position, and the first step of a build that misses is
 * explained by comparing its record with that one. */
#ifndef ST_BUILD_KEY_H
#define ST_BUILD_KEY_H

#include "strata/buf.h"
#include "strata/digest.h"

struct build_key {
	struct st_hasher key;  /* over (label, item digest) pairs */
	struct st_hasher item; /* the open item, fed by the caller */
	bool open;
	bool record;         /* keep the record in rec */
	struct st_buf label; /* the open item's label */
	struct st_buf rec;   /* "hex label\n" per closed item, the label escaped */
};

/* record: also write the record of the items into k->rec (the key is the same either way). */
int build_key_init(struct build_key *k, bool record, struct st_error *err);
/* Closes the open item, if any, and opens one named by the printf-style label; the caller
 * feeds its bytes into k->item. */
int build_key_item(struct build_key *k, struct st_error *err, const char *fmt, ...) ST_PRINTF(3, 4);
/* The same with the label prefix followed by s: no printf for the item of every file. */
int build_key_item_str(struct build_key *k, const char *prefix, const char *s,
                       struct st_error *err);
/* Closes the open item, if any, and adds the item labelled prefix + s whose bytes hash to
 * *item: the same as build_key_item_str, feeding those bytes, and closing. */
int build_key_add_item(struct build_key *k, const char *prefix, const char *s,
                       const struct st_digest *item, struct st_error *err);
/* Closes the last item and gives the key; k->rec then holds the record. */
void build_key_final(struct build_key *k, struct st_digest *out);
void build_key_release(struct build_key *k);

/* Where a step's record is kept: <root>/cache/explain/<sha256 of the context, the Dockerfile
 * name, the stage and the step> (the same position in the next build). */
int build_key_slot(const char *root, const char *context, const char *dockerfile, int stage,
                   int step, struct st_buf *out, struct st_error *err);
/* Writes "key <hex>\n" and the record to the slot, atomically; a slot holding this key is not
 * rewritten. */
int build_key_save(const char *slot, const struct st_digest *key, const struct st_buf *rec,
                   struct st_error *err);
/* Says in *why (one line) what differs between the slot's record and rec: the first item, in
 * the order of importance (parent, instruction, flags, args, ..., files), with a count of the
 * other changed files. No record: says so. */
int build_key_explain(const char *slot, const struct st_buf *rec, bool first_step,
                      struct st_buf *why, struct st_error *err);

#endif
