/*
 * seq_rows.c - the rows of a decided batch of custody events, one
 * statement per table: every column travels as one array, and the
 * statement inserts (or updates) from unnest() of them (sql.c). Rows go
 * in the order the remaining foreign keys need: events, then their rule
 * hits, alerts and usage, then new devices, links and device updates.
 */
#include <stdlib.h>
#include <string.h>

#include "enums.h"
#include "seq_internal.h"

/* ---- column arrays ------------------------------------------------------ */

void *seq_col(struct seq_cols *c, size_t n, size_t elem)
{
	void *p;

	if (c->count == SEQ_COLS_MAX || (p = malloc(n > 0 ? n * elem : 1)) == NULL) {
		c->nomem = true;
		return NULL;
	}
	c->p[c->count++] = p;
	return p;
}

void seq_cols_free(struct seq_cols *c)
{
	for (int i = 0; i < c->count; i++)
		free(c->p[i]);
	c->count = 0;
}

/* ---- events ------------------------------------------------------------- */

static const char *verdict_name(const struct item *it)
{
	if (it->verdict.reject)
		return "REJECT";
	return it->verdict.n_hits > 0 ? "ACCEPT_WITH_ALERTS" : "ACCEPT";
}

static const char *severity_name(Custody__Severity s)
{
	return enum_name(&custody__severity__descriptor, s);
}

const char *seq_hit_facility(const struct item *it, const struct rule_hit *h)
{
	return h->facility[0] != '\0'		? h->facility
	       : it->ev->to_facility[0] != '\0' ? it->ev->to_facility
						: it->ev->facility;
}

const char *seq_hit_device(const struct item *it, const struct rule_hit *h)
{
	if (h->device[0] != '\0')
		return h->device;
	return it->ev->n_devices > 0 ? it->ev->devices[0]->serial : "";
}

const char *seq_facility_country(const struct registry *reg, const char *id)
{
	const struct facility *f = id[0] ? registry_facility(reg, id) : NULL;

	return f != NULL ? f->country : "";
}

/* One SQL_INSERT_EVENT with every written event of the batch. */
static int add_events(struct db_job *job, const struct item *batch)
{
	struct seq_cols c = {0};
	size_t n = 0, i = 0;
	int64_t *seq, *occurred, *recorded;
	const uint8_t **id, **signer, **body, **sig;
	const char **type, **actor, **facility, **verdict;
	size_t *body_len;

	for (const struct item *it = batch; it != NULL; it = it->next)
		n += it->written;
	if (n == 0)
		return CU_OK;
	seq = seq_col(&c, n, sizeof(*seq));
	occurred = seq_col(&c, n, sizeof(*occurred));
	recorded = seq_col(&c, n, sizeof(*recorded));
	id = seq_col(&c, n, sizeof(*id));
	signer = seq_col(&c, n, sizeof(*signer));
	body = seq_col(&c, n, sizeof(*body));
	sig = seq_col(&c, n, sizeof(*sig));
	type = seq_col(&c, n, sizeof(*type));
	actor = seq_col(&c, n, sizeof(*actor));
	facility = seq_col(&c, n, sizeof(*facility));
	verdict = seq_col(&c, n, sizeof(*verdict));
	body_len = seq_col(&c, n, sizeof(*body_len));
	for (const struct item *it = batch; it != NULL && !c.nomem; it = it->next) {
		if (!it->written)
			continue;
		seq[i] = (int64_t)it->seq;
		id[i] = it->id;
		type[i] = enum_name(&custody__event_type__descriptor, it->ev->type);
		actor[i] = it->ev->actor;
		signer[i] = it->signer;
		facility[i] = it->ev->facility;
		occurred[i] = it->ev->occurred_at_ms;
		recorded[i] = it->recorded_ms;
		body[i] = it->body;
		body_len[i] = it->body_len;
		sig[i] = it->sig;
		verdict[i++] = verdict_name(it);
	}
	if (!c.nomem) {
		db_job_add(job, SQL_INSERT_EVENT);
		db_param_i64_array(job, seq, n);
		db_param_bytea_array(job, id, 32, n);
		db_param_text_array(job, type, n);
		db_param_text_array(job, actor, n);
		db_param_bytea_array(job, signer, 32, n);
		db_param_text_array(job, facility, n);
		db_param_i64_array(job, occurred, n);
		db_param_i64_array(job, recorded, n);
		db_param_bytes_array(job, body, body_len, n);
		db_param_bytea_array(job, sig, 64, n);
		db_param_text_array(job, verdict, n);
	}
	seq_cols_free(&c);
	return c.nomem ? CU_ERR_NOMEM : CU_OK;
}

/* The rule hits, alerts and usage rows of one written event (rare: a row each). */
static void add_event_extras(struct db_job *job, struct item *it, const struct seq_ctx *ctx)
{
	it->first_alert_id = *ctx->next_alert_id;
	for (size_t i = 0; i < it->verdict.n_hits; i++) {
		const struct rule_hit *h = &it->verdict.hits[i];
		const char *fac = seq_hit_facility(it, h);

		db_job_add(job, SQL_INSERT_RULE);
		db_param_i64(job, (int64_t)it->seq);
		db_param_i64(job, (int64_t)i);
		db_param_text(job, h->rule);
		db_param_text(job, severity_name(h->severity));
		db_param_text(job, h->reason);
		if (!h->alert)
			continue;
		db_job_add(job, SQL_INSERT_ALERT);
		db_param_i64(job, (int64_t)(*ctx->next_alert_id)++);
		db_param_text(job, h->rule);
		db_param_text(job, severity_name(h->severity));
		db_param_text(job, h->reason);
		db_param_i64(job, it->recorded_ms);
		db_param_i64(job, (int64_t)it->seq);
		db_param_text(job, seq_hit_device(it, h));
		db_param_text(job, fac);
		db_param_text(job, seq_facility_country(ctx->reg, fac));
		db_param_text(job, it->exporter);
		it->n_alerts++;
	}
	for (size_t i = 0; i < it->verdict.n_usage && !it->verdict.reject; i++) {
		const struct rules_usage *u = &it->verdict.usage[i];

		if (!u->stored)
			continue;
		db_job_add(job, SQL_INSERT_USAGE);
		db_param_i64(job, (int64_t)it->seq);
		db_param_text(job, u->key);
		db_param_i64(job, u->amount);
	}
}

/* ---- devices ------------------------------------------------------------ */

/*
 * One SQL_INSERT_LINK with the device links of every event the batch
 * writes.
 */
static int add_links(struct db_job *job, const struct item *batch)
{
	struct seq_cols c = {0};
	const char **serials, **vias;
	int64_t *seqs, *prevs;
	size_t n = 0, i = 0;

	for (const struct item *it = batch; it != NULL; it = it->next)
		n += it->written ? it->res.n_links : 0;
	if (n == 0)
		return CU_OK;
	serials = seq_col(&c, n, sizeof(*serials));
	vias = seq_col(&c, n, sizeof(*vias));
	seqs = seq_col(&c, n, sizeof(*seqs));
	prevs = seq_col(&c, n, sizeof(*prevs));
	for (const struct item *it = batch; it != NULL && !c.nomem; it = it->next) {
		for (size_t k = 0; it->written && k < it->res.n_links; k++, i++) {
			serials[i] = it->res.links[k].serial;
			seqs[i] = (int64_t)it->seq;
			prevs[i] = (int64_t)it->res.links[k].prev_seq;
			vias[i] = it->res.links[k].via;
		}
	}
	if (!c.nomem) {
		db_job_add(job, SQL_INSERT_LINK);
		db_param_text_array(job, serials, n);
		db_param_i64_array(job, seqs, n);
		db_param_i64_array(job, prevs, n);
		db_param_text_array(job, vias, n);
	}
	seq_cols_free(&c);
	return c.nomem ? CU_ERR_NOMEM : CU_OK;
}

/*
 * The columns both device statements carry, in SQL_UPDATE_DEVICE's
 * order: the mutable state of a device row. SQL_INSERT_DEVICE adds the
 * fixed ones (kind, model, class, TPP, key, owner, registered_seq).
 */
#define STATE_TEXTS 7
#define STATE_INTS  6

struct state_cols {
	const char **text[STATE_TEXTS];
	int64_t *num[STATE_INTS];
};

static void state_cols_new(struct seq_cols *c, struct state_cols *s, size_t n)
{
	for (int k = 0; k < STATE_TEXTS; k++)
		s->text[k] = seq_col(c, n, sizeof(*s->text[k]));
	for (int k = 0; k < STATE_INTS; k++)
		s->num[k] = seq_col(c, n, sizeof(*s->num[k]));
}

static void state_cols_set(struct state_cols *s, size_t i, const struct dev *d)
{
	const char *t[STATE_TEXTS] = {d->serial,
				      d->custodian,
				      enum_name(&custody__device_status__descriptor, d->status),
				      d->facility,
				      d->dest_facility,
				      d->parent,
				      d->location};
	int64_t v[STATE_INTS] = {(int64_t)d->head_seq, (int64_t)d->last_seq,	 d->last_at_ms,
				 d->seen_at_ms,	       (int64_t)d->shipment_seq, d->deadline_ms};

	for (int k = 0; k < STATE_TEXTS; k++)
		s->text[k][i] = t[k];
	for (int k = 0; k < STATE_INTS; k++)
		s->num[k][i] = v[k];
}

static void state_cols_params(struct db_job *job, const struct state_cols *s, size_t n)
{
	for (int k = 0; k < STATE_TEXTS; k++)
		db_param_text_array(job, s->text[k], n);
	for (int k = 0; k < STATE_INTS; k++)
		db_param_i64_array(job, s->num[k], n);
}

/* Counts the dirty devices of ws that are new (registered) or not. */
static size_t count_dirty(const struct state_ws *ws, bool is_new)
{
	size_t pos = 0, n = 0;
	struct dev *d;

	while ((d = state_ws_next(ws, &pos)) != NULL)
		n += d->dirty && d->is_new == is_new;
	return n;
}

/*
 * One SQL_INSERT_DEVICE (devices the batch registered) or
 * SQL_UPDATE_DEVICE (the final row of every other changed device: the
 * working set holds each device once, as the batch's last event left it).
 */
static int add_devices(struct db_job *job, const struct state_ws *ws, bool is_new)
{
	struct seq_cols c = {0};
	struct state_cols s;
	size_t n = count_dirty(ws, is_new), pos = 0, i = 0;
	const char **kind = NULL, **model = NULL, **eccn = NULL, **owner = NULL;
	const uint8_t **key = NULL;
	int64_t *tpp = NULL, *registered = NULL;
	struct dev *d;

	if (n == 0)
		return CU_OK;
	state_cols_new(&c, &s, n);
	if (is_new) {
		kind = seq_col(&c, n, sizeof(*kind));
		model = seq_col(&c, n, sizeof(*model));
		eccn = seq_col(&c, n, sizeof(*eccn));
		owner = seq_col(&c, n, sizeof(*owner));
		key = seq_col(&c, n, sizeof(*key));
		tpp = seq_col(&c, n, sizeof(*tpp));
		registered = seq_col(&c, n, sizeof(*registered));
	}
	while (!c.nomem && (d = state_ws_next(ws, &pos)) != NULL) {
		if (!d->dirty || d->is_new != is_new)
			continue;
		state_cols_set(&s, i, d);
		if (is_new) {
			kind[i] = enum_name(&custody__device_kind__descriptor, d->kind);
			model[i] = d->model;
			eccn[i] = d->eccn_class;
			owner[i] = d->owner;
			key[i] = d->has_device_key ? d->device_key : NULL;
			tpp[i] = d->tpp;
			registered[i] = (int64_t)d->registered_seq;
		}
		i++;
	}
	if (!c.nomem) {
		if (!is_new)
			db_job_add(job, SQL_JOIN_BY_PROBES);
		db_job_add(job, is_new ? SQL_INSERT_DEVICE : SQL_UPDATE_DEVICE);
		state_cols_params(job, &s, n);
		if (is_new) {
			db_param_text_array(job, kind, n);
			db_param_text_array(job, model, n);
			db_param_text_array(job, eccn, n);
			db_param_text_array(job, owner, n);
			db_param_bytea_array(job, key, 32, n);
			db_param_i64_array(job, tpp, n);
			db_param_i64_array(job, registered, n);
		}
	}
	seq_cols_free(&c);
	return c.nomem ? CU_ERR_NOMEM : CU_OK;
}

int seq_rows_add(struct db_job *job, struct item *batch, const struct state_ws *ws,
		 const struct seq_ctx *ctx)
{
	int rc = add_events(job, batch);

	for (struct item *it = batch; it != NULL && rc == CU_OK; it = it->next) {
		if (it->written)
			add_event_extras(job, it, ctx);
	}
	if (rc == CU_OK)
		rc = add_devices(job, ws, true);
	if (rc == CU_OK)
		rc = add_links(job, batch);
	if (rc == CU_OK)
		rc = add_devices(job, ws, false);
	return rc;
}
