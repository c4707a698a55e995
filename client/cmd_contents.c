/*
 * cmd_contents.c - "contents SERIAL": everything inside a container,
 * recursively, as the server lists it (ContentsRequest). The table shows
 * the tree by indenting each serial by its depth.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "enums.h"
#include "out.h"

/* Deepest indentation shown; containment is at most rack > server > board > chip. */
#define MAX_INDENT_DEPTH 8

/* Prints r (borrowed) as one JSON document. */
static void print_json(const Custody__ContentsResult *r)
{
	struct out_json j;

	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_kstr(&j, "serial", r->serial);
	out_json_key(&j, "items");
	out_json_begin_array(&j);
	for (size_t i = 0; i < r->n_items; i++) {
		const Custody__ContentItem *it = r->items[i];

		out_json_begin_object(&j);
		out_json_kstr(&j, "serial", it->serial);
		out_json_kenum(&j, "kind", &custody__device_kind__descriptor, it->kind);
		out_json_kstr(&j, "model", it->model);
		out_json_kstr(&j, "parent", it->parent);
		out_json_kuint(&j, "depth", it->depth);
		out_json_kenum(&j, "status", &custody__device_status__descriptor, it->status);
		out_json_kuint(&j, "tpp", it->tpp);
		out_json_kstr(&j, "eccn_class", it->eccn_class);
		out_json_end_object(&j);
	}
	out_json_end_array(&j);
	out_json_kuint(&j, "total_tpp", r->total_tpp);
	out_json_end_object(&j);
}

/* Adds one item, its serial indented two spaces per level below the first. */
static void add_item(struct out_table *t, const Custody__ContentItem *it)
{
	char serial[2 * MAX_INDENT_DEPTH + 128], kind[32], status[32], tpp[24];
	const char *cells[6] = {serial, kind, it->model[0] != '\0' ? it->model : "-",
				status, tpp,  it->eccn_class[0] != '\0' ? it->eccn_class : "-"};
	unsigned depth = it->depth > 0 ? it->depth - 1 : 0;

	if (depth > MAX_INDENT_DEPTH)
		depth = MAX_INDENT_DEPTH;
	snprintf(serial, sizeof(serial), "%*s%s", (int)(2 * depth), "", it->serial);
	snprintf(kind, sizeof(kind), "%s",
		 enum_label(&custody__device_kind__descriptor, it->kind, NULL));
	snprintf(status, sizeof(status), "%s",
		 enum_label(&custody__device_status__descriptor, it->status, NULL));
	snprintf(tpp, sizeof(tpp), "%llu", (unsigned long long)it->tpp);
	out_table_add(t, cells);
}

/* Prints r (borrowed) as an indented table and the total. */
static int print_human(const Custody__ContentsResult *r)
{
	static const char *const headers[] = {"SERIAL", "KIND", "MODEL", "STATUS", "TPP", "ECCN"};
	struct out_table *t = NULL;
	int rc = out_table_new(6, headers, &t);

	if (rc != CU_OK)
		return rc;
	out_table_align_right(t, 4);
	for (size_t i = 0; i < r->n_items; i++)
		add_item(t, r->items[i]);
	rc = out_table_print(t, stdout);
	out_table_free(t);
	if (rc == CU_OK)
		printf("\n%zu item%s inside %s, total TPP %llu\n", r->n_items,
		       r->n_items == 1 ? "" : "s", r->serial, (unsigned long long)r->total_tpp);
	return rc;
}

int cmd_contents(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__ContentsRequest contents = CUSTODY__CONTENTS_REQUEST__INIT;
	Custody__Response *resp = NULL;
	int first = 0;
	int rc = ctl_parse_positional(ctl, argc, argv, 1, 1, &first);

	if (rc != CU_OK)
		return rc;
	contents.serial = argv[first];
	req.body_case = CUSTODY__REQUEST__BODY_CONTENTS;
	req.contents = &contents;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_CONTENTS, &resp);
	if (rc != CU_OK)
		return rc;
	if (ctl->json)
		print_json(resp->contents);
	else if (print_human(resp->contents) != CU_OK)
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	custody__response__free_unpacked(resp, NULL);
	return rc;
}
