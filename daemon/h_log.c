/*
 * h_log.c - what the verifiable log publishes about itself: its verifier
 * key and its latest signed checkpoint (from the sequencer, which signs
 * one after every batch and loads the last one at start-up).
 */
#include "conn.h"
#include "dispatch.h"
#include "note.h"
#include "sequencer.h"

void h_log_key(struct req *req, const Custody__Request *msg)
{
	const struct sequencer_options *opt = sequencer_options();
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__LogKeyResult r = CUSTODY__LOG_KEY_RESULT__INIT;
	struct note_verifier v;
	char text[NOTE_VKEY_MAX];

	(void)msg;
	if (note_verifier_init(&v, opt->log_origin, NOTE_TYPE_ED25519, opt->log_key->pk) != CU_OK ||
	    note_verifier_format(&v, text, sizeof(text)) != CU_OK) {
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "cannot format the log key");
		return;
	}
	r.verifier_key = text;
	r.origin = (char *)opt->log_origin;
	resp.body_case = CUSTODY__RESPONSE__BODY_LOG_KEY;
	resp.log_key = &r;
	req_reply(req, &resp);
}

void h_checkpoint(struct req *req, const Custody__Request *msg)
{
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__CheckpointResult r = CUSTODY__CHECKPOINT_RESULT__INIT;
	uint64_t size = 0;
	const char *text = sequencer_checkpoint(&size);

	(void)msg;
	if (text == NULL) {
		req_fail(req, CUSTODY__ERROR_CODE__NOT_FOUND,
			 "the log has no checkpoint yet: nothing has been stored");
		return;
	}
	r.checkpoint = (char *)text;
	r.tree_size = size;
	resp.body_case = CUSTODY__RESPONSE__BODY_CHECKPOINT;
	resp.checkpoint = &r;
	req_reply(req, &resp);
}
