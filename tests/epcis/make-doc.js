// Builds EPCIS 2.0 documents with epcis2.js, an EPCIS library independent of custody, for
// tests/integration/92-epcis.sh to import with custodyctl import-epcis.
//
//   node make-doc.js KIND BASE_MS OUT.json
//
// KIND (times are BASE_MS plus a few seconds, in a +09:00 offset as another tool might write):
//   exporter  commissioning of two chips and a server, packing, shipping US -> JP
//   operator  receiving and installing the server in JP
//   picking   one valid commissioning, then a bizStep custody does not import
//   noDest    a shipping without a destinationList location
//   foreign   receiving of the server (for a key that may not see it)
// Each document is checked with epcis2.js's isValid() before it is written.
'use strict';

const fs = require('fs');
const {
  EPCISDocument, ObjectEvent, AggregationEvent, ReadPoint, BizLocation, Ilmd,
  SourceElement, DestinationElement, cbv,
} = require('epcis2.js');

const [kind, baseArg, out] = process.argv.slice(2);
const base = Number(baseArg);
const dev = (s) => `urn:custody:device:${s}`;
const fac = (f) => `urn:custody:facility:${f}`;
const party = (p) => `urn:custody:party:${p}`;
let step = 0;

// An event of the given class at the next time, at facility f (readPoint and bizLocation).
function at(Cls, action, bizStep, disposition, f) {
  const e = new Cls();
  const local = new Date(base + 1000 * step++ + 9 * 3600 * 1000).toISOString();
  e.setEventTime(local.replace('Z', '+09:00'), false)
    .setEventTimeZoneOffset('+09:00')
    .setAction(action)
    .setBizStep(bizStep);
  if (disposition) e.setDisposition(disposition);
  if (f) {
    e.setReadPoint(new ReadPoint().setId(fac(f)));
    if (bizStep !== cbv.bizSteps.shipping) e.setBizLocation(new BizLocation().setId(fac(f)));
  }
  return e;
}

function commission(serials, deviceKind, model) {
  return at(ObjectEvent, cbv.actionTypes.add, cbv.bizSteps.commissioning,
    cbv.dispositions.active, 'nw-us-hillsboro')
    .addEPCList(serials.map(dev))
    .setIlmd(new Ilmd({ 'custody:kind': deviceKind, 'custody:model': model }));
}

function ship(withDestination) {
  const e = at(ObjectEvent, cbv.actionTypes.observe, cbv.bizSteps.shipping,
    cbv.dispositions.in_transit, 'nw-us-hillsboro')
    .addEPC(dev('SRV-0011'))
    .addSource(new SourceElement({ type: cbv.sourceDestinationTypes.owning_party,
      source: party('northwind') }))
    .addSource(new SourceElement({ type: cbv.sourceDestinationTypes.location,
      source: fac('nw-us-hillsboro') }));
  if (withDestination) {
    e.addDestination(new DestinationElement({ type: cbv.sourceDestinationTypes.location,
      destination: fac('nw-jp-inzai') }));
  }
  return e;
}

const events = {
  exporter: () => [
    commission(['GPU-0011', 'GPU-0012'], 'chip', 'H100-SXM'),
    commission(['SRV-0011'], 'server', 'DGX-H100'),
    at(AggregationEvent, cbv.actionTypes.add, cbv.bizSteps.packing,
      cbv.dispositions.container_closed, 'nw-us-hillsboro')
      .setParentId(dev('SRV-0011'))
      .addChildEPCList([dev('GPU-0011'), dev('GPU-0012')]),
    ship(true),
  ],
  operator: () => [
    at(ObjectEvent, cbv.actionTypes.observe, cbv.bizSteps.receiving,
      cbv.dispositions.in_progress, 'nw-jp-inzai').addEPC(dev('SRV-0011')),
    at(ObjectEvent, cbv.actionTypes.observe, cbv.bizSteps.installing,
      cbv.dispositions.active, 'nw-jp-inzai')
      .addEPC(dev('SRV-0011'))
      .addExtension('custody:location', 'hall-3/rack-07'),
  ],
  picking: () => [
    commission(['GPU-0099'], 'chip', 'H100-SXM'),
    at(ObjectEvent, cbv.actionTypes.observe, cbv.bizSteps.picking, null, 'nw-us-hillsboro')
      .addEPC(dev('GPU-0099')),
  ],
  noDest: () => [ship(false)],
  foreign: () => [
    at(ObjectEvent, cbv.actionTypes.observe, cbv.bizSteps.receiving,
      cbv.dispositions.in_progress, 'sw-de-frankfurt').addEPC(dev('SRV-0011')),
  ],
};

if (!events[kind] || !Number.isFinite(base) || !out) {
  console.error('usage: node make-doc.js exporter|operator|picking|noDest|foreign BASE_MS OUT');
  process.exit(2);
}
const doc = new EPCISDocument()
  .setContext(['https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
    { custody: 'urn:custody:epcis:' }])
  .setCreationDate(new Date().toISOString())
  .addEventList(events[kind]());
if (!doc.isValid()) {
  console.error('epcis2.js says the document it built is not valid');
  process.exit(1);
}
fs.writeFileSync(out, doc.toString());
