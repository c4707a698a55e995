/*
 * itest_held.c - the server-wide budget of submission bytes (max_held_bytes,
 * conn.h req_hold), through the raw protocol: ITEST_HELD_SENT REGISTER events
 * of ITEST_HELD_CHIPS chips each are pipelined on one connection while
 * custodyd lingers over its batch (86-held-bytes.sh sets batch_linger_ms), so
 * they pile up held. Those past the budget are answered UNAVAILABLE naming
 * max_held_bytes, the others are stored; no more than the budget (plus the
 * one always let through) was taken at once; once all are answered the
 * budget is whole again and the next submission is stored.
 *
 * Environment: CUSTODY_SERVER, ITEST_EXPORTER_KEY (party "acme", facility
 * "acme-us"), ITEST_HELD_MAX (the configured max_held_bytes), ITEST_HELD_SENT,
 * ITEST_HELD_CHIPS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "envelope.h"
#include "itest_lib.h"
#include "key.h"

#define SENT_MAX 256

static struct cu_key *exporter;

/* A signed REGISTER of chips HELD-<batch>-0 .. -(chips-1), into env (envelope_clear it). */
static void seal_register(int batch, int chips, Custody__SignedEnvelope *env)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef *refs = calloc((size_t)chips, sizeof(*refs));
	Custody__DeviceRef **ptrs = calloc((size_t)chips, sizeof(*ptrs));
	char(*serials)[32] = calloc((size_t)chips, sizeof(*serials));

	assert_true(refs != NULL && ptrs != NULL && serials != NULL);
	for (int i = 0; i < chips; i++) {
		custody__device_ref__init(&refs[i]);
		snprintf(serials[i], sizeof(serials[i]), "HELD-%d-%05d-%d", batch, i,
			 (int)getpid());
		refs[i].serial = serials[i];
		refs[i].kind = CUSTODY__DEVICE_KIND__CHIP;
		refs[i].model = "H100-SXM";
		ptrs[i] = &refs[i];
	}
	ev.type = CUSTODY__EVENT_TYPE__REGISTER;
	ev.actor = "acme";
	ev.facility = "acme-us";
	ev.occurred_at_ms = codec_now_ms() - 1000 + batch;
	ev.devices = ptrs;
	ev.n_devices = (size_t)chips;
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter, &ev.base, env), CU_OK);
	free(refs);
	free(ptrs);
	free(serials);
}

static void send_envelope(int fd, Custody__SignedEnvelope *env)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;

	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = env;
	send_request(fd, &req);
}

static void test_budget(void **state)
{
	int sent = (int)env_i64("ITEST_HELD_SENT", 40),
	    chips = (int)env_i64("ITEST_HELD_CHIPS", 2000);
	size_t max = (size_t)env_i64("ITEST_HELD_MAX", 1 << 20), body;
	int stored = 0, refused = 0, fd = connect_daemon();
	Custody__SignedEnvelope envs[SENT_MAX + 1];
	Custody__Response *resp;

	(void)state;
	assert_true(sent > 0 && sent <= SENT_MAX);
	/* Signed first, then sent back to back: all arrive within the batch's linger. */
	for (int i = 0; i <= sent; i++)
		seal_register(i, chips, &envs[i]);
	body = envs[0].body.len;
	for (int i = 0; i < sent; i++)
		send_envelope(fd, &envs[i]);
	for (int i = 0; i < sent; i++) {
		resp = recv_frame(fd, 60000, false);
		assert_non_null(resp);
		if (resp->body_case == CUSTODY__RESPONSE__BODY_SUBMIT) {
			stored++;
		} else {
			expect_error_kept(resp, CUSTODY__ERROR_CODE__UNAVAILABLE, "max_held_bytes");
			refused++;
		}
		custody__response__free_unpacked(resp, NULL);
	}
	print_message("%d stored, %d refused of %d submissions of %zu bytes (budget %zu)\n", stored,
		      refused, sent, body, max);
	assert_true(refused > 0);
	assert_true(stored > 0);
	/* None was answered before all arrived: at most the budget was taken. */
	assert_true((size_t)stored * body <= max);
	/* Everything answered: the budget is whole again. */
	send_envelope(fd, &envs[sent]);
	resp = recv_frame(fd, 60000, false);
	assert_non_null(resp);
	expect_body(resp, CUSTODY__RESPONSE__BODY_SUBMIT);
	custody__response__free_unpacked(resp, NULL);
	for (int i = 0; i <= sent; i++)
		envelope_clear(&envs[i]);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_budget)};
	const char *key = getenv("ITEST_EXPORTER_KEY");

	if (key == NULL || key_load(key, &exporter) != CU_OK) {
		fprintf(stderr, "itest_held: ITEST_EXPORTER_KEY must name the exporter's key\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
