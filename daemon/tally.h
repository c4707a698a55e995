/*
 * tally.h - named counters with undo, for the quantities the policy
 * engine caps: compute per exporter and country, license use, License
 * Exception LPP use.
 *
 * The sequencer decides a batch against the tally, adding as it accepts
 * events; if the batch's transaction fails, tally_rollback undoes every
 * add since the last tally_commit. Keys (also the usage table's keys):
 *   alloc:OWNER:CC         TPP of OWNER's chips whose place is country CC
 *                          (destination while in transit or repair)
 *   license:NUMBER:tpp     TPP shipped under a license
 *   license:NUMBER:units   chips shipped under a license
 *   lpp:CONSIGNEE:YEAR     TPP received under LPP in a calendar year
 */
#ifndef CUSTODY_TALLY_H
#define CUSTODY_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

#define TALLY_KEY_MAX 160

struct tally;

/* A new empty tally, or NULL. */
struct tally *tally_new(void);

/* Frees it; accepts NULL. */
void tally_free(struct tally *t);

/* The value of key (0 if never added). */
int64_t tally_get(const struct tally *t, const char *key);

/* Adds delta to key, remembering it for tally_rollback. */
CU_MUST_USE int tally_add(struct tally *t, const char *key, int64_t delta);

/* Forgets the undo record: the adds so far are final. */
void tally_commit(struct tally *t);

/* Undoes every add since the last commit. */
void tally_rollback(struct tally *t);

/*
 * Two batches in flight (the second decided while the first commits): a
 * mark is the adds not yet final when it is taken. tally_commit_to makes
 * the adds before mark final and leaves the later ones undoable;
 * tally_rollback_to undoes only the adds since mark.
 */
size_t tally_mark(const struct tally *t);
void tally_commit_to(struct tally *t, size_t mark);
void tally_rollback_to(struct tally *t, size_t mark);

/*
 * Iterates over the counters whose key starts with prefix: *pos starts at
 * 0; returns the key (borrowed) or NULL at the end, value in *value.
 */
const char *tally_next(const struct tally *t, const char *prefix, size_t *pos, int64_t *value);

#endif
