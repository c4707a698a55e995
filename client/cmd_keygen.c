/*
 * cmd_keygen.c - "keygen FILE" and "pubkey [FILE]": making key pairs and
 * showing public keys. Offline: key.c does the file work (mode 0600, no
 * overwriting, secrets in guarded memory); this file only reports.
 */
#include <stdio.h>

#include "cmd.h"
#include "key.h"
#include "out.h"

/* Prints a public key: base64 alone, or a JSON object with extra fields. */
static void print_pub(const struct ctl *ctl, const uint8_t pk[KEY_PUBLIC_BYTES], const char *file,
		      const char *pub_file)
{
	char b64[KEY_PUB_TEXT_MAX];
	struct out_json j;

	key_pub_format(pk, b64);
	if (!ctl->json) {
		printf("%s\n", b64);
		return;
	}
	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_kstr(&j, "public_key", b64);
	if (file != NULL)
		out_json_kstr(&j, "file", file);
	if (pub_file != NULL)
		out_json_kstr(&j, "public_file", pub_file);
	out_json_end_object(&j);
}

int cmd_keygen(struct ctl *ctl, int argc, char **argv)
{
	struct cu_key *key = NULL;
	char pub_file[4096];
	int first = 0;
	int rc = ctl_parse_positional(ctl, argc, argv, 1, 1, &first);

	if (rc != CU_OK)
		return rc;
	rc = key_generate(&key);
	if (rc != CU_OK) {
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "cannot generate a key: %s", cu_strerror(rc));
		goto fail;
	}
	rc = key_save(key, argv[first]);
	if (rc != CU_OK) {
		rc = ctl_key_error(ctl, argv[first], rc);
		goto fail;
	}
	snprintf(pub_file, sizeof(pub_file), "%s.pub", argv[first]);
	if (!ctl->json)
		fprintf(stderr, "wrote %s (secret, mode 0600) and %s\n", argv[first], pub_file);
	print_pub(ctl, key->pk, argv[first], pub_file);
fail:
	key_free(key);
	return rc;
}

int cmd_pubkey(struct ctl *ctl, int argc, char **argv)
{
	uint8_t pk[KEY_PUBLIC_BYTES];
	const char *spec;
	int first = 0;
	int rc = ctl_parse_positional(ctl, argc, argv, 0, 1, &first);

	if (rc != CU_OK)
		return rc;
	spec = first < argc ? argv[first] : ctl->key_path;
	if (spec == NULL)
		return ctl_usage_error(ctl, "pubkey: give a key FILE, --key FILE or CUSTODY_KEY");
	rc = ctl_load_pub(ctl, "pubkey", spec, pk);
	if (rc != CU_OK)
		return rc;
	print_pub(ctl, pk, spec, NULL);
	return CU_OK;
}
