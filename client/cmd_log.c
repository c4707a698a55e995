/*
 * cmd_log.c - what the verifiable log says about itself: "log-key" prints
 * its verifier key (name+keyid+base64, the form witnesses and verifiers
 * pin) and "checkpoint" a signed checkpoint with its cosignatures.
 */
#include <getopt.h>
#include <stdint.h>
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
	static const struct option opts[] = {
	    {"size", required_argument, NULL, 's'},
	    {"min-cosignatures", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__CheckpointRequest cp = CUSTODY__CHECKPOINT_REQUEST__INIT;
	Custody__Response *resp = NULL;
	const Custody__CheckpointResult *r;
	struct out_json j;
	uint64_t v = 0;
	int c, rc = CU_OK;

	optind = 0;
	while (rc == CU_OK && (c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c == 's') {
			rc = ctl_parse_uint(ctl, "--size", optarg, 1, INT64_MAX, &v);
			cp.tree_size = v;
		} else if (c == 'm') {
			rc = ctl_parse_uint(ctl, "--min-cosignatures", optarg, 0, 64, &v);
			cp.min_cosignatures = (uint32_t)v;
		} else {
			return ctl_bad_option(ctl, opts, argv, c);
		}
	}
	if (rc != CU_OK)
		return rc;
	if (optind != argc)
		return ctl_usage_error(ctl, "unexpected argument %s", argv[optind]);
	req.body_case = CUSTODY__REQUEST__BODY_CHECKPOINT;
	req.checkpoint = &cp;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_CHECKPOINT, &resp);
	if (rc != CU_OK)
		return rc;
	r = resp->checkpoint;
	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kuint(&j, "tree_size", r->tree_size);
		out_json_kstr(&j, "checkpoint", r->checkpoint);
		out_json_key(&j, "cosignatures");
		out_json_begin_array(&j);
		for (size_t i = 0; i < r->n_cosignatures; i++) {
			out_json_begin_object(&j);
			out_json_kstr(&j, "witness_key", r->cosignatures[i]->witness_key);
			out_json_kstr(&j, "signature", r->cosignatures[i]->signature);
			out_json_end_object(&j);
		}
		out_json_end_array(&j);
		out_json_end_object(&j);
	} else {
		fputs(r->checkpoint, stdout);
	}
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}
