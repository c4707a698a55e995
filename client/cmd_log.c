/*
 * cmd_log.c - what the verifiable log says about itself: "log-key" prints
 * its verifier key (name+keyid+base64, the form witnesses and verifiers
 * pin) and "checkpoint" its latest signed checkpoint.
 */
#include <stdio.h>

#include "cmd.h"
#include "out.h"

/* Sends req (a command without arguments) and returns the answer in *resp. */
static int ask(struct ctl *ctl, int argc, char **argv, Custody__Request *req,
	       Custody__Response__BodyCase want, Custody__Response **resp)
{
	int first = 0;
	int rc = ctl_parse_positional(ctl, argc, argv, 0, 0, &first);

	if (rc != CU_OK)
		return rc;
	return ctl_call(ctl, req, want, resp);
}

int cmd_log_key(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__LogKeyRequest lk = CUSTODY__LOG_KEY_REQUEST__INIT;
	Custody__Response *resp = NULL;
	struct out_json j;
	int rc;

	req.body_case = CUSTODY__REQUEST__BODY_LOG_KEY;
	req.log_key = &lk;
	rc = ask(ctl, argc, argv, &req, CUSTODY__RESPONSE__BODY_LOG_KEY, &resp);
	if (rc != CU_OK)
		return rc;
	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "verifier_key", resp->log_key->verifier_key);
		out_json_kstr(&j, "origin", resp->log_key->origin);
		out_json_end_object(&j);
	} else {
		printf("%s\n", resp->log_key->verifier_key);
	}
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}

int cmd_checkpoint(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__CheckpointRequest cp = CUSTODY__CHECKPOINT_REQUEST__INIT;
	Custody__Response *resp = NULL;
	struct out_json j;
	int rc;

	req.body_case = CUSTODY__REQUEST__BODY_CHECKPOINT;
	req.checkpoint = &cp;
	rc = ask(ctl, argc, argv, &req, CUSTODY__RESPONSE__BODY_CHECKPOINT, &resp);
	if (rc != CU_OK)
		return rc;
	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kuint(&j, "tree_size", resp->checkpoint->tree_size);
		out_json_kstr(&j, "checkpoint", resp->checkpoint->checkpoint);
		out_json_end_object(&j);
	} else {
		fputs(resp->checkpoint->checkpoint, stdout);
	}
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}
