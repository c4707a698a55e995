/*
 * Unit tests for client/epcis_*.c: every custody event type written as
 * EPCIS and read back gives the same Event, byte for byte (actor and prev
 * aside, which import fills in); the CBV spellings other tools use are
 * read; bad documents fail with a message naming the event and the
 * problem, and give no events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epcis.h"
#include "test_util.h"

/* 2026-11-22T13:40:00.250Z */
#define T0 1795354800250LL

static uint8_t prev_a[32] = {1}, prev_b[32] = {2}, prev_c[32] = {3}, dev_key[32] = {9, 9};

/* An EPCIS document holding ev, written as export-epcis writes it (owned). */
static char *document_of(const Custody__Event *ev)
{
	struct capture c;
	struct out_json j;

	capture_begin(&c);
	out_json_init(&j, c.f);
	epcis_write_begin(&j, T0);
	epcis_write_event(&j, ev, NULL);
	epcis_write_end(&j);
	return capture_end(&c);
}

/* Reads text as a document of one event; fails the test on errors. */
static struct epcis_doc *read_one(const char *text)
{
	struct epcis_doc *doc = NULL;
	char err[512] = "";
	int rc = epcis_read(text, strlen(text), &doc, err, sizeof(err));

	if (rc != CU_OK)
		fail_msg("epcis_read: %s\n%s", err, text);
	assert_int_equal(epcis_doc_count(doc), 1);
	return doc;
}

/* Packs ev into a new buffer (owned); *len its length. */
static uint8_t *pack(const Custody__Event *ev, size_t *len)
{
	uint8_t *buf;

	*len = custody__event__get_packed_size(ev);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	custody__event__pack(ev, buf);
	return buf;
}

/* Writes ev, reads it back, gives it ev's actor and prevs, compares the bytes. */
static void round_trip(const Custody__Event *ev)
{
	char *text = document_of(ev);
	struct epcis_doc *doc = read_one(text);
	Custody__Event *back = epcis_doc_event(doc, 0);
	uint8_t *want, *got;
	size_t want_len, got_len;

	assert_int_equal(back->type, ev->type);
	assert_string_equal(back->actor, "");
	back->actor = ev->actor;
	assert_int_equal(back->n_devices, ev->n_devices);
	for (size_t i = 0; i < ev->n_devices; i++) {
		assert_int_equal(back->devices[i]->prev.len, 0);
		back->devices[i]->prev = ev->devices[i]->prev;
	}
	assert_int_equal(back->container != NULL, ev->container != NULL);
	if (ev->container != NULL)
		back->container->prev = ev->container->prev;
	want = pack(ev, &want_len);
	got = pack(back, &got_len);
	if (want_len != got_len || memcmp(want, got, want_len) != 0)
		fail_msg("round trip of %d changed the event:\n%s", ev->type, text);
	free(want);
	free(got);
	epcis_doc_free(doc);
	free(text);
}

/* An event of type at facility acme-us-1 on GPU-1 and GPU-2. */
struct sample {
	Custody__Event ev;
	Custody__DeviceRef d[2], container;
	Custody__DeviceRef *ptrs[2];
};

static void sample_init(struct sample *s, Custody__EventType type)
{
	custody__event__init(&s->ev);
	for (int i = 0; i < 2; i++) {
		custody__device_ref__init(&s->d[i]);
		s->ptrs[i] = &s->d[i];
		s->d[i].prev.data = i == 0 ? prev_a : prev_b;
		s->d[i].prev.len = 32;
	}
	s->d[0].serial = "GPU-1";
	s->d[1].serial = "dc/hall:2/GPU-2";
	s->ev.type = type;
	s->ev.actor = "acme";
	s->ev.occurred_at_ms = T0;
	s->ev.facility = "acme-us-1";
	s->ev.devices = s->ptrs;
	s->ev.n_devices = 2;
	s->ev.note = "a note with \"quotes\" and ünïcode";
}

static void test_round_trip_every_type(void **state)
{
	static char *contents[] = {"GPU-1", "GPU-2"};
	struct sample s;

	(void)state;
	for (size_t i = 0; i < epcis_step_count(); i++) {
		Custody__EventType type = epcis_step_at(i)->type;

		sample_init(&s, type);
		switch (type) {
		case CUSTODY__EVENT_TYPE__REGISTER:
			for (int k = 0; k < 2; k++) {
				s.d[k].prev.len = 0;
				s.d[k].kind = CUSTODY__DEVICE_KIND__CHIP;
				s.d[k].model = "H100-SXM";
			}
			break;
		case CUSTODY__EVENT_TYPE__PACK:
		case CUSTODY__EVENT_TYPE__UNPACK:
			custody__device_ref__init(&s.container);
			s.container.serial = "SRV-1";
			s.container.prev.data = prev_c;
			s.container.prev.len = 32;
			s.ev.container = &s.container;
			break;
		case CUSTODY__EVENT_TYPE__SHIP:
			s.ev.consignee = "acme-jp";
			s.ev.carrier = "fastfreight";
			s.ev.deadline_ms = T0 + 86400000;
			s.ev.license = "D123456";
			/* fall through */
		case CUSTODY__EVENT_TYPE__RMA_OUT:
			s.ev.to_facility = "acme-jp-1";
			break;
		case CUSTODY__EVENT_TYPE__INSTALL:
		case CUSTODY__EVENT_TYPE__REMOVE:
		case CUSTODY__EVENT_TYPE__MOVE:
			s.ev.location = "hall-2/rack 14";
			break;
		case CUSTODY__EVENT_TYPE__ATTEST:
			s.ev.n_devices = 1;
			s.ev.reported_contents = contents;
			s.ev.n_reported_contents = 2;
			break;
		case CUSTODY__EVENT_TYPE__REPORT:
			s.ev.reason = CUSTODY__REPORT_REASON__REPORT_LOST;
			s.ev.facility = "";
			break;
		default:
			break;
		}
		round_trip(&s.ev);
	}
}

/* A REGISTER whose devices differ, one with a device key; reports of every reason. */
static void test_round_trip_variants(void **state)
{
	struct sample s;

	(void)state;
	sample_init(&s, CUSTODY__EVENT_TYPE__REGISTER);
	s.d[0].prev.len = s.d[1].prev.len = 0;
	s.d[0].kind = CUSTODY__DEVICE_KIND__CHIP;
	s.d[0].model = "H100-SXM";
	s.d[1].kind = CUSTODY__DEVICE_KIND__SERVER;
	s.d[1].model = "DGX-H100";
	s.d[1].device_key.data = dev_key;
	s.d[1].device_key.len = 32;
	round_trip(&s.ev);
	for (int r = CUSTODY__REPORT_REASON__REPORT_LOST; r <= CUSTODY__REPORT_REASON__REPORT_OTHER;
	     r++) {
		sample_init(&s, CUSTODY__EVENT_TYPE__REPORT);
		s.ev.reason = (Custody__ReportReason)r;
		round_trip(&s.ev);
	}
}

/* The mapping table says what docs/epcis.md says for the steps the issue names. */
static void test_mapping_table(void **state)
{
	static const struct {
		Custody__EventType type;
		const char *event, *action, *step, *disposition;
	} want[] = {
	    {CUSTODY__EVENT_TYPE__REGISTER, "ObjectEvent", "ADD", "commissioning", "active"},
	    {CUSTODY__EVENT_TYPE__PACK, "AggregationEvent", "ADD", "packing", "container_closed"},
	    {CUSTODY__EVENT_TYPE__UNPACK, "AggregationEvent", "DELETE", "unpacking",
	     "container_open"},
	    {CUSTODY__EVENT_TYPE__SHIP, "ObjectEvent", "OBSERVE", "shipping", "in_transit"},
	    {CUSTODY__EVENT_TYPE__RECEIVE, "ObjectEvent", "OBSERVE", "receiving", "in_progress"},
	    {CUSTODY__EVENT_TYPE__INSTALL, "ObjectEvent", "OBSERVE", "installing", "active"},
	    {CUSTODY__EVENT_TYPE__REMOVE, "ObjectEvent", "OBSERVE", "removing", "available"},
	    {CUSTODY__EVENT_TYPE__RMA_OUT, "ObjectEvent", "OBSERVE", "repairing", "in_transit"},
	    {CUSTODY__EVENT_TYPE__RMA_IN, "ObjectEvent", "OBSERVE", "repairing", "available"},
	    {CUSTODY__EVENT_TYPE__DECOMMISSION, "ObjectEvent", "OBSERVE", "decommissioning",
	     "inactive"},
	    {CUSTODY__EVENT_TYPE__DESTROY, "ObjectEvent", "DELETE", "destroying", "destroyed"},
	    {CUSTODY__EVENT_TYPE__ATTEST, "ObjectEvent", "OBSERVE", "inspecting", NULL},
	};

	(void)state;
	assert_int_equal(epcis_step_count(), 14);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct epcis_step *s = epcis_step_of(want[i].type);

		assert_non_null(s);
		assert_string_equal(s->aggregation ? "AggregationEvent" : "ObjectEvent",
				    want[i].event);
		assert_string_equal(s->action, want[i].action);
		assert_string_equal(s->biz_step, want[i].step);
		if (want[i].disposition == NULL)
			assert_null(s->disposition);
		else
			assert_string_equal(s->disposition, want[i].disposition);
	}
	assert_string_equal(epcis_cbv_word("urn:epcglobal:cbv:bizstep:receiving", "bizstep"),
			    "receiving");
	assert_string_equal(epcis_cbv_word("https://ref.gs1.org/cbv/BizStep-packing", "bizstep"),
			    "packing");
	assert_string_equal(epcis_cbv_word("https://gs1.org/voc/Disp-in_transit", "disp"),
			    "in_transit");
	assert_string_equal(epcis_cbv_word("urn:epcglobal:cbv:sdt:location", "sdt"), "location");
	assert_string_equal(epcis_cbv_word("urn:epcglobal:cbv:disp:active", "bizstep"),
			    "urn:epcglobal:cbv:disp:active");
}

#define DOC_HEAD                                                                                   \
	"{\"@context\":[\"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\"],"      \
	"\"type\":\"EPCISDocument\",\"schemaVersion\":\"2.0\","                                    \
	"\"creationDate\":\"2026-11-22T13:40:00Z\",\"epcisBody\":{\"eventList\":["
#define DOC_TAIL "]}}"
#define EV_HEAD                                                                                    \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-11-22T14:40:00.5+01:00\","                 \
	"\"eventTimeZoneOffset\":\"+01:00\",\"epcList\":[\"urn:custody:device:GPU-1\"],"

/* A document as another tool writes it: URN spellings, offsets, no custody: members. */
static void test_foreign_spellings(void **state)
{
	static const char text[] = DOC_HEAD EV_HEAD
	    "\"action\":\"OBSERVE\","
	    "\"bizStep\":\"urn:epcglobal:cbv:bizstep:shipping\","
	    "\"disposition\":\"urn:epcglobal:cbv:disp:in_transit\","
	    "\"readPoint\":{\"id\":\"urn:custody:facility:acme-us-1\"},"
	    "\"sourceList\":[{\"type\":\"urn:epcglobal:cbv:sdt:owning_party\","
	    "\"source\":\"urn:custody:party:acme\"}],"
	    "\"destinationList\":[{\"type\":\"location\","
	    "\"destination\":\"urn:custody:facility:acme-jp-1\"},"
	    "{\"type\":\"owning_party\",\"destination\":\"urn:custody:party:acme-jp\"}],"
	    "\"example:other\":{\"ignored\":true}}" DOC_TAIL;
	struct epcis_doc *doc;
	Custody__Event *ev;

	(void)state;
	doc = read_one(text);
	ev = epcis_doc_event(doc, 0);
	assert_int_equal(ev->type, CUSTODY__EVENT_TYPE__SHIP);
	assert_int_equal(ev->occurred_at_ms, T0 + 250); /* 14:40:00.5+01:00 */
	assert_string_equal(ev->facility, "acme-us-1");
	assert_string_equal(ev->to_facility, "acme-jp-1");
	assert_string_equal(ev->consignee, "acme-jp");
	assert_string_equal(ev->devices[0]->serial, "GPU-1");
	epcis_doc_free(doc);
}

/* The disposition tells RMA_OUT from RMA_IN; REPORT's reason comes from it too. */
static void test_disposition_decides(void **state)
{
	static const char rma_in[] = DOC_HEAD EV_HEAD
	    "\"action\":\"OBSERVE\",\"bizStep\":\"repairing\",\"disposition\":\"available\","
	    "\"bizLocation\":{\"id\":\"urn:custody:facility:acme-us-1\"}}" DOC_TAIL;
	static const char stolen[] =
	    DOC_HEAD EV_HEAD "\"action\":\"OBSERVE\",\"bizStep\":\"urn:custody:bizstep:reporting\","
			     "\"disposition\":\"stolen\"}" DOC_TAIL;
	struct epcis_doc *doc;

	(void)state;
	doc = read_one(rma_in);
	assert_int_equal(epcis_doc_event(doc, 0)->type, CUSTODY__EVENT_TYPE__RMA_IN);
	epcis_doc_free(doc);
	doc = read_one(stolen);
	assert_int_equal(epcis_doc_event(doc, 0)->type, CUSTODY__EVENT_TYPE__REPORT);
	assert_int_equal(epcis_doc_event(doc, 0)->reason, CUSTODY__REPORT_REASON__REPORT_STOLEN);
	epcis_doc_free(doc);
}

/* Each bad document fails whole, with a message that names the problem. */
static void test_bad_documents(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"[]", "not an EPCIS document"},
	    {"{\"type\":\"EPCISDocument\",\"schemaVersion\":\"1.2\",\"epcisBody\":{\"eventList\":[]}}",
	     "schemaVersion"},
	    {DOC_HEAD DOC_TAIL, "no events"},
	    {DOC_HEAD EV_HEAD "\"action\":\"OBSERVE\",\"bizStep\":\"picking\"}" DOC_TAIL,
	     "event 1: bizStep \"picking\" of an ObjectEvent is not one custody imports"},
	    {DOC_HEAD EV_HEAD "\"action\":\"OBSERVE\"}" DOC_TAIL, "bizStep is missing"},
	    {DOC_HEAD EV_HEAD "\"action\":\"ADD\",\"bizStep\":\"receiving\"}" DOC_TAIL,
	     "action of a receiving must be OBSERVE"},
	    {DOC_HEAD EV_HEAD "\"action\":\"OBSERVE\",\"bizStep\":\"repairing\"}" DOC_TAIL,
	     "needs a disposition"},
	    {DOC_HEAD "{\"type\":\"ObjectEvent\",\"eventID\":\"urn:x:1\",\"action\":\"OBSERVE\","
		      "\"bizStep\":\"receiving\",\"epcList\":[\"urn:custody:device:A\"]}" DOC_TAIL,
	     "event 1 (urn:x:1): eventTime is missing"},
	    {DOC_HEAD EV_HEAD
	     "\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
	     "\"readPoint\":{\"id\":\"urn:epc:id:sgln:0614141.00777.0\"}}" DOC_TAIL,
	     "readPoint \"urn:epc:id:sgln:0614141.00777.0\" is not a urn:custody:facility:"},
	    {DOC_HEAD "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-11-22T14:40:00Z\","
		      "\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
		      "\"epcList\":[\"https://id.gs1.org/01/09520123456788/21/12345\"]}" DOC_TAIL,
	     "epcList \"https://id.gs1.org/01/09520123456788/21/12345\" is not a "
	     "urn:custody:device:"},
	    {DOC_HEAD EV_HEAD "\"action\":\"OBSERVE\",\"bizStep\":\"shipping\"}" DOC_TAIL,
	     "needs a destinationList entry of type location"},
	    {DOC_HEAD EV_HEAD "\"action\":\"ADD\",\"bizStep\":\"commissioning\"}" DOC_TAIL,
	     "commissioning needs ilmd"},
	    {DOC_HEAD EV_HEAD "\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
			      "\"quantityList\":[]}" DOC_TAIL,
	     "quantities"},
	    {DOC_HEAD EV_HEAD "\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
			      "\"custody:type\":\"SHIP\"}" DOC_TAIL,
	     "custody:type SHIP does not go with"},
	    {DOC_HEAD EV_HEAD "\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
			      "\"bizLocation\":{\"id\":\"urn:custody:facility:a\"},"
			      "\"readPoint\":{\"id\":\"urn:custody:facility:b\"}}" DOC_TAIL,
	     "readPoint names facility b, but the event happens at a"},
	    {DOC_HEAD "{\"type\":\"TransformationEvent\"}" DOC_TAIL,
	     "TransformationEvent is not imported"},
	    {DOC_HEAD "{\"type\":\"ObjectEvent\",\"eventTime\":\"now\",\"action\":\"OBSERVE\","
		      "\"bizStep\":\"receiving\"}" DOC_TAIL,
	     "eventTime \"now\" is not an RFC 3339 date-time"},
	    {DOC_HEAD EV_HEAD
	     "\"action\":\"OBSERVE\",\"bizStep\":\"receiving\"}," EV_HEAD
	     "\"action\":\"OBSERVE\",\"bizStep\":\"urn:custody:bizstep:reporting\","
	     "\"disposition\":\"unknown\"}" DOC_TAIL,
	     "event 2: a report needs custody:reason"},
	    {DOC_HEAD "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-11-22T14:40:00Z\","
		      "\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
		      "\"epcList\":[\"urn:custody:device:bad serial\"]}" DOC_TAIL,
	     "not a valid device serial"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct epcis_doc *doc = (struct epcis_doc *)&doc;
		char err[512] = "";
		int rc = epcis_read(cases[i].text, strlen(cases[i].text), &doc, err, sizeof(err));

		assert_int_equal(rc, CU_ERR_INVALID);
		assert_null(doc);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_every_type),
	    cmocka_unit_test(test_round_trip_variants),
	    cmocka_unit_test(test_mapping_table),
	    cmocka_unit_test(test_foreign_spellings),
	    cmocka_unit_test(test_disposition_decides),
	    cmocka_unit_test(test_bad_documents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
