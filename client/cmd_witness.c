/*
 * cmd_witness.c - "witness": an independent witness of the verifiable log
 * (C2SP tlog-witness semantics over the custody protocol).
 *
 * The witness pins the log's verifier key (--log) and keeps, in its state
 * file, the last checkpoint it cosigned, exactly as the log signed it. A
 * round: fetch the latest checkpoint and check the log's signature; if it
 * is larger than the state, fetch a consistency proof from the state's
 * size and check it against the two roots; then write the new state and
 * only then cosign (cosignature/v1, with the time) and hand the line to
 * custodyd. So the witness never cosigns two checkpoints that contradict
 * each other, even across a crash between the two steps.
 *
 * A checkpoint smaller than the state, of the same size with another
 * root, or without a valid consistency proof, means the log forked or was
 * rewritten: the witness refuses, says so loudly on stderr, writes both
 * signed checkpoints (the proof of the fork) to STATE.fork, and exits 4
 * without touching its state. Without a state file the first checkpoint
 * is trusted as it is (trust on first use).
 *
 * With --interval the rounds repeat until SIGINT or SIGTERM (exit 0); a
 * server that cannot be reached is retried at the next round.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "codec.h"
#include "merkle.h"
#include "note.h"
#include "out.h"

/* Longest --interval: a day. */
#define MAX_INTERVAL_S 86400

struct witness {
	struct ctl *ctl;
	struct note_verifier log_v;  /* --log */
	struct note_verifier self_v; /* this witness's cosignature key */
	struct cu_key *key;
	char *party; /* the witness's party id: its key name */
	const char *state_path;
	/* The last checkpoint cosigned (signed note, the log's line only). */
	char state[NOTE_SIG_MAX_BYTES];
	size_t state_len;
	struct note_checkpoint state_cp; /* parsed; borrows state */
	bool have_state;
};

/* What one round saw, for the output. */
struct round {
	uint64_t size;
	uint64_t cosignatures; /* witnesses that have cosigned that size */
	bool cosigned;	       /* this round cosigned (false: up to date) */
	bool first;	       /* trusted on first use */
};

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Opens a log-signed note and parses its checkpoint; err gets the reason. */
static int open_checkpoint(const struct witness *w, const char *text, size_t len,
			   struct note_opened *opened, struct note_checkpoint *cp, char *err,
			   size_t err_size)
{
	int rc = note_open(text, len, &w->log_v, 1, opened, err, err_size);

	if (rc != CU_OK)
		return rc;
	rc = note_checkpoint_parse(opened->text, opened->text_len, cp, err, err_size);
	if (rc != CU_OK)
		return rc;
	if (cp->origin_len != w->log_v.name_len ||
	    memcmp(cp->origin, w->log_v.name, cp->origin_len) != 0) {
		snprintf(err, err_size, "its origin is not %s", w->log_v.name);
		return CU_ERR_INVALID;
	}
	return CU_OK;
}

/* Loads the state file, if any; it must hold a checkpoint the log signed. */
static int state_load(struct witness *w)
{
	struct note_opened opened;
	char err[160];
	FILE *f = fopen(w->state_path, "re");

	if (f == NULL && errno == ENOENT)
		return CU_OK;
	if (f == NULL)
		return ctl_fail(w->ctl, CTL_EXIT_IO, "IO", "--state %s: %s", w->state_path,
				strerror(errno));
	w->state_len = fread(w->state, 1, sizeof(w->state) - 1, f);
	w->state[w->state_len] = '\0';
	fclose(f);
	if (w->state_len == sizeof(w->state) - 1 ||
	    open_checkpoint(w, w->state, w->state_len, &opened, &w->state_cp, err, sizeof(err)) !=
		CU_OK)
		return ctl_fail(w->ctl, CTL_EXIT_USAGE, "USAGE",
				"--state %s does not hold a checkpoint signed by %s (%s);"
				" a witness must not guess: restore it or start a new witness",
				w->state_path, w->log_v.name,
				w->state_len == sizeof(w->state) - 1 ? "too long" : err);
	w->have_state = true;
	return CU_OK;
}

/* Writes the evidence of a fork next to the state file; says where. */
static void fork_evidence(const struct witness *w, const char *other, size_t other_len)
{
	size_t size = strlen(w->state_path) + sizeof(".fork");
	char *path = malloc(size);
	FILE *f;

	if (path == NULL)
		return;
	snprintf(path, size, "%s.fork", w->state_path);
	f = fopen(path, "we");
	if (f != NULL) {
		fprintf(f,
			"# Two checkpoints signed by %s that cannot both be true.\n"
			"# Cosigned by this witness:\n%.*s\n# Served later:\n%.*s",
			w->log_v.name, (int)w->state_len, w->state, (int)other_len, other);
		if (fclose(f) == 0)
			ctl_note("both signed checkpoints are in %s", path);
	}
	free(path);
}

/* Reports a forked or rewritten log loudly; exit status 4. */
static int refuse(struct witness *w, const char *note, size_t note_len,
		  const struct note_checkpoint *cp, const char *why)
{
	int rc;

	rc = ctl_fail(w->ctl, CTL_EXIT_FORK, "FORK",
		      "REFUSED: the log %s has forked or been rewritten: its checkpoint of size "
		      "%" PRIu64 " %s the checkpoint of size %" PRIu64
		      " this witness cosigned; nothing was cosigned",
		      w->log_v.name, cp->size, why, w->state_cp.size);
	fork_evidence(w, note, note_len);
	return rc;
}

/* Asks for the consistency proof state -> cp and checks it; *ok says if it holds. */
static int check_consistency(struct witness *w, const struct note_checkpoint *cp, bool *ok)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__ConsistencyRequest cr = CUSTODY__CONSISTENCY_REQUEST__INIT;
	Custody__Response *resp = NULL;
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	const Custody__ConsistencyResult *r;
	int rc;

	cr.size1 = w->state_cp.size;
	cr.size2 = cp->size;
	req.body_case = CUSTODY__REQUEST__BODY_CONSISTENCY;
	req.consistency = &cr;
	rc = ctl_call(w->ctl, &req, CUSTODY__RESPONSE__BODY_CONSISTENCY, &resp);
	if (rc != CU_OK)
		return rc;
	r = resp->consistency;
	*ok = r->size1 == cr.size1 && r->size2 == cr.size2 && r->n_proof <= MERKLE_PROOF_MAX;
	for (size_t i = 0; *ok && i < r->n_proof; i++) {
		*ok = r->proof[i].len == MERKLE_HASH_SIZE;
		if (*ok)
			memcpy(proof + i * MERKLE_HASH_SIZE, r->proof[i].data, MERKLE_HASH_SIZE);
	}
	*ok = *ok && merkle_verify_consistency(cr.size1, cr.size2, proof, r->n_proof,
					       w->state_cp.root, cp->root) == CU_OK;
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}

/* Cosigns the checkpoint body text and hands the line to the server. */
static int cosign(struct witness *w, const char *text, size_t text_len, uint64_t size,
		  struct round *out)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__CosignRequest cr = CUSTODY__COSIGN_REQUEST__INIT;
	Custody__Response *resp = NULL;
	char line[NOTE_SIG_LINE_MAX + 1];
	size_t line_len = 0;
	int rc;

	if (note_cosig_sign(text, text_len, w->party, w->key, (uint64_t)time(NULL), line,
			    sizeof(line), &line_len) != CU_OK)
		return ctl_fail(w->ctl, CTL_EXIT_USAGE, "USAGE", "cannot cosign as %s", w->party);
	cr.tree_size = size;
	cr.witness_key.data = w->self_v.pk;
	cr.witness_key.len = sizeof(w->self_v.pk);
	cr.signature = line;
	req.body_case = CUSTODY__REQUEST__BODY_COSIGN;
	req.cosign = &cr;
	rc = ctl_call(w->ctl, &req, CUSTODY__RESPONSE__BODY_COSIGN, &resp);
	if (rc != CU_OK)
		return rc;
	out->cosignatures = resp->cosign->cosignatures;
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}

/* Has this witness's cosignature already been served with the checkpoint? */
static bool served_with(const struct witness *w, const Custody__CheckpointResult *r)
{
	char vkey[NOTE_VKEY_MAX];

	if (note_verifier_format(&w->self_v, vkey, sizeof(vkey)) != CU_OK)
		return false;
	for (size_t i = 0; i < r->n_cosignatures; i++) {
		if (strcmp(r->cosignatures[i]->witness_key, vkey) == 0)
			return true;
	}
	return false;
}

/* One round: fetch, check, save the state, cosign. */
static int witness_round(struct witness *w, struct round *out)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__CheckpointRequest cr = CUSTODY__CHECKPOINT_REQUEST__INIT;
	Custody__Response *resp = NULL;
	struct note_opened opened;
	struct note_checkpoint cp;
	char note[NOTE_SIG_MAX_BYTES], err[160];
	size_t note_len = 0;
	bool ok = true;
	int rc;

	memset(out, 0, sizeof(*out));
	req.body_case = CUSTODY__REQUEST__BODY_CHECKPOINT;
	req.checkpoint = &cr;
	rc = ctl_call(w->ctl, &req, CUSTODY__RESPONSE__BODY_CHECKPOINT, &resp);
	if (rc != CU_OK)
		return rc;
	rc = open_checkpoint(w, resp->checkpoint->checkpoint, strlen(resp->checkpoint->checkpoint),
			     &opened, &cp, err, sizeof(err));
	if (rc == CU_OK)
		rc = note_only_signed_by(&opened, &w->log_v, note, sizeof(note), &note_len);
	if (rc != CU_OK) {
		rc = ctl_fail(w->ctl, CTL_EXIT_SERVER, "SERVER",
			      "the server's checkpoint is not one the log key %s signed: %s",
			      w->log_v.name, rc == CU_ERR_TOO_BIG ? "too long" : err);
		goto done;
	}
	out->size = cp.size;
	if (w->have_state) {
		if (cp.size < w->state_cp.size) {
			rc = refuse(w, note, note_len, &cp, "is older than");
			goto done;
		}
		if (cp.size == w->state_cp.size) {
			if (memcmp(cp.root, w->state_cp.root, sizeof(cp.root)) != 0) {
				rc = refuse(w, note, note_len, &cp, "has another root than");
				goto done;
			}
			if (served_with(w, resp->checkpoint))
				goto done; /* up to date */
		} else {
			rc = check_consistency(w, &cp, &ok);
			if (rc != CU_OK)
				goto done;
			if (!ok) {
				rc = refuse(w, note, note_len, &cp,
					    "has no valid consistency proof from");
				goto done;
			}
		}
	} else {
		out->first = true;
	}
	/* The state first: a crash after it never lets us cosign a fork. */
	rc = ctl_write_file_atomic(w->ctl, "--state", w->state_path, note, note_len, 0600);
	if (rc != CU_OK)
		goto done;
	memcpy(w->state, note, note_len + 1);
	w->state_len = note_len;
	w->have_state = true;
	rc = open_checkpoint(w, w->state, w->state_len, &opened, &w->state_cp, err, sizeof(err));
	if (rc == CU_OK)
		rc = cosign(w, opened.text, opened.text_len, cp.size, out);
	if (rc == CU_OK)
		out->cosigned = true;
done:
	custody__response__free_unpacked(resp, NULL);
	return rc;
}

static void print_round(const struct witness *w, const struct round *r)
{
	struct out_json j;
	char root[CODEC_B64_SIZE(MERKLE_HASH_SIZE)];

	codec_b64_encode(w->state_cp.root, sizeof(w->state_cp.root), root, sizeof(root));
	if (w->ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "log", w->log_v.name);
		out_json_kuint(&j, "tree_size", r->size);
		out_json_kstr(&j, "root", root);
		out_json_kbool(&j, "cosigned", r->cosigned);
		out_json_kbool(&j, "trusted_on_first_use", r->first);
		if (r->cosigned)
			out_json_kuint(&j, "cosignatures", r->cosignatures);
		out_json_end_object(&j);
	} else if (r->cosigned) {
		printf("cosigned %s at size %" PRIu64 " (root %s)%s; %" PRIu64
		       " witness%s cosigned it\n",
		       w->log_v.name, r->size, root,
		       r->first ? ", trusted on first use" : ", consistent with the last",
		       r->cosignatures, r->cosignatures == 1 ? " has" : "es have");
	} else {
		printf("%s at size %" PRIu64 " (root %s): already cosigned\n", w->log_v.name,
		       r->size, root);
	}
	fflush(stdout);
}

/* Sleeps seconds, or less if a stop signal comes. */
static void nap(uint64_t seconds)
{
	for (uint64_t i = 0; i < seconds * 10 && !stop_flag; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
}

/* Is rc from a failure worth retrying at the next round (server away)? */
static bool transient(const struct ctl *ctl)
{
	return ctl->exit_status == CTL_EXIT_IO;
}

static int parse(struct witness *w, int argc, char **argv, uint64_t *interval)
{
	static const struct option opts[] = {
	    {"log", required_argument, NULL, 'l'},
	    {"state", required_argument, NULL, 's'},
	    {"interval", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	const char *log = NULL;
	char err[160];
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			log = optarg;
			break;
		case 's':
			w->state_path = optarg;
			break;
		case 'i':
			rc = ctl_parse_uint(w->ctl, "--interval", optarg, 1, MAX_INTERVAL_S,
					    interval);
			if (rc != CU_OK)
				return rc;
			break;
		default:
			return ctl_bad_option(w->ctl, opts, argv, c);
		}
	}
	if (optind != argc)
		return ctl_usage_error(w->ctl, "unexpected argument %s", argv[optind]);
	if ((rc = ctl_require(w->ctl, log != NULL, "--log")) != CU_OK ||
	    (rc = ctl_require(w->ctl, w->state_path != NULL, "--state")) != CU_OK)
		return rc;
	if (note_verifier_parse(log, &w->log_v, err, sizeof(err)) != CU_OK ||
	    w->log_v.type != NOTE_TYPE_ED25519)
		return ctl_usage_error(w->ctl, "--log: not the log's verifier key (%s)",
				       w->log_v.type != NOTE_TYPE_ED25519 ? "not type 0x01" : err);
	return CU_OK;
}

/* Loads the witness key and its party (the key name of its cosignatures). */
static int load_identity(struct witness *w)
{
	char vkey[NOTE_VKEY_MAX];
	int rc = ctl_load_key(w->ctl, &w->key);

	if (rc == CU_OK)
		rc = ctl_key_party(w->ctl, w->key->pk, &w->party);
	if (rc != CU_OK)
		return rc;
	if (note_verifier_init(&w->self_v, w->party, NOTE_TYPE_COSIG_V1, w->key->pk) != CU_OK ||
	    note_verifier_format(&w->self_v, vkey, sizeof(vkey)) != CU_OK)
		return ctl_fail(w->ctl, CTL_EXIT_USAGE, "USAGE",
				"party id %s cannot name a witness key", w->party);
	if (!w->ctl->json)
		fprintf(stderr, "custodyctl: witness %s\n", vkey);
	return CU_OK;
}

int cmd_witness(struct ctl *ctl, int argc, char **argv)
{
	struct witness *w = calloc(1, sizeof(*w));
	struct sigaction sa;
	struct round r;
	uint64_t interval = 0;
	int rc;

	if (w == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	w->ctl = ctl;
	rc = parse(w, argc, argv, &interval);
	if (rc == CU_OK)
		rc = state_load(w);
	if (rc == CU_OK)
		rc = load_identity(w);
	if (rc == CU_OK && interval > 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	while (rc == CU_OK) {
		rc = witness_round(w, &r);
		if (rc == CU_OK)
			print_round(w, &r);
		if (interval == 0 || stop_flag)
			break;
		if (rc != CU_OK && transient(ctl)) {
			/* Reported; try again at the next round on a new connection. */
			ctl_cleanup(ctl);
			ctl->exit_status = CTL_EXIT_OK;
			ctl->error_reported = false;
			rc = CU_OK;
		}
		if (rc == CU_OK)
			nap(interval);
		if (stop_flag)
			break;
	}
	key_free(w->key);
	free(w->party);
	free(w);
	return rc;
}
