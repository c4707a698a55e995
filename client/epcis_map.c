/*
 * epcis_map.c - which EPCIS event, action, CBV 2.0 business step and
 * disposition stand for each custody event type (see epcis.h and the
 * table in docs/epcis.md, which must say the same).
 *
 * Two custody types have no CBV business step of their own: MOVE (within
 * a facility) and REPORT (lost, stolen, tampered, found). EPCIS 2.0 allows
 * any URI as a business step, so they get custody URIs rather than a CBV
 * word that would say something else. ATTEST is "inspecting": an
 * attestation is a check that the device is where it should be and holds
 * what it should, which is what CBV means by inspecting.
 */
#include "epcis.h"

#include <stdio.h>
#include <string.h>

static const struct epcis_step steps[] = {
    {CUSTODY__EVENT_TYPE__REGISTER, false, "ADD", "commissioning", "active"},
    {CUSTODY__EVENT_TYPE__PACK, true, "ADD", "packing", "container_closed"},
    {CUSTODY__EVENT_TYPE__UNPACK, true, "DELETE", "unpacking", "container_open"},
    {CUSTODY__EVENT_TYPE__SHIP, false, "OBSERVE", "shipping", "in_transit"},
    {CUSTODY__EVENT_TYPE__RECEIVE, false, "OBSERVE", "receiving", "in_progress"},
    {CUSTODY__EVENT_TYPE__INSTALL, false, "OBSERVE", "installing", "active"},
    {CUSTODY__EVENT_TYPE__REMOVE, false, "OBSERVE", "removing", "available"},
    {CUSTODY__EVENT_TYPE__MOVE, false, "OBSERVE", "urn:custody:bizstep:moving", NULL},
    {CUSTODY__EVENT_TYPE__ATTEST, false, "OBSERVE", "inspecting", NULL},
    {CUSTODY__EVENT_TYPE__RMA_OUT, false, "OBSERVE", "repairing", "in_transit"},
    {CUSTODY__EVENT_TYPE__RMA_IN, false, "OBSERVE", "repairing", "available"},
    {CUSTODY__EVENT_TYPE__DECOMMISSION, false, "OBSERVE", "decommissioning", "inactive"},
    {CUSTODY__EVENT_TYPE__DESTROY, false, "DELETE", "destroying", "destroyed"},
    /* REPORT's disposition depends on the reason: epcis_report_disposition */
    {CUSTODY__EVENT_TYPE__REPORT, false, "OBSERVE", "urn:custody:bizstep:reporting", NULL},
};

#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

const struct epcis_step *epcis_step_of(Custody__EventType type)
{
	for (size_t i = 0; i < N_STEPS; i++) {
		if (steps[i].type == type)
			return &steps[i];
	}
	return NULL;
}

size_t epcis_step_count(void)
{
	return N_STEPS;
}

const struct epcis_step *epcis_step_at(size_t i)
{
	return i < N_STEPS ? &steps[i] : NULL;
}

const char *epcis_report_disposition(Custody__ReportReason r)
{
	switch (r) {
	case CUSTODY__REPORT_REASON__REPORT_STOLEN:
		return "stolen";
	case CUSTODY__REPORT_REASON__REPORT_TAMPERED:
		return "damaged";
	case CUSTODY__REPORT_REASON__REPORT_FOUND:
		return "available";
	default: /* LOST, OTHER: CBV has no word for either */
		return "unknown";
	}
}

/* text past prefix when it starts with it, else NULL. */
static const char *after(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(text, prefix, n) == 0 ? text + n : NULL;
}

const char *epcis_cbv_word(const char *text, const char *vocab)
{
	/* The web vocabulary spells the vocabulary's name in its own case. */
	const char *web = strcmp(vocab, "bizstep") == 0 ? "BizStep-"
			  : strcmp(vocab, "disp") == 0	? "Disp-"
							: "SDT-";
	static const char *const web_roots[] = {"https://ref.gs1.org/cbv/", "https://gs1.org/voc/",
						"http://gs1.org/voc/"};
	const char *rest = after(text, "urn:epcglobal:cbv:");

	if (rest != NULL && (rest = after(rest, vocab)) != NULL && rest[0] == ':')
		return rest + 1;
	for (size_t i = 0; i < sizeof(web_roots) / sizeof(web_roots[0]); i++) {
		rest = after(text, web_roots[i]);
		if (rest != NULL && (rest = after(rest, web)) != NULL)
			return rest;
	}
	return text;
}

const char *epcis_uri(char out[EPCIS_URI_MAX], const char *prefix, const char *id)
{
	snprintf(out, EPCIS_URI_MAX, "%s%s", prefix, id);
	return out;
}
