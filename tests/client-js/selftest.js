// selftest.js - offline checks of the independent client:
//   1. noise.js against the cacophony vectors of tests/data/noise/ (every
//      25519_ChaChaPoly_SHA256 pattern without pre-messages, as initiator:
//      handshake messages, handshake hash, transport messages);
//   2. the worked examples of docs/protocol.md: the same messages built
//      with protobufjs from the fields the document names encode to the
//      document's body bytes and frame, and node's Ed25519 with the
//      document's seeds gives the document's signatures and ids.
// Exits non-zero on the first mismatch.
'use strict';

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { Initiator } = require('./noise');
const custody = require('./custody');

const REPO = path.join(__dirname, '..', '..');
const hex = (b) => Buffer.from(b).toString('hex');

function checkNoiseVectors() {
  const file = path.join(REPO, 'tests', 'data', 'noise', 'noise_25519_chachapoly_sha256.json');
  const { vectors } = JSON.parse(fs.readFileSync(file, 'utf8'));
  const names = [];
  for (const v of vectors) {
    const m = /^Noise_(NN|NX|XN|XX|IN|IX)_25519_ChaChaPoly_SHA256$/.exec(v.protocol_name);
    if (!m || v.init_psks || v.init_remote_static) continue;
    const hs = new Initiator(v.protocol_name, Buffer.from(v.init_prologue, 'hex'),
      v.init_static ? Buffer.from(v.init_static, 'hex') : null, Buffer.from(v.init_ephemeral, 'hex'));
    let i = 0;
    for (; !hs.isDone(); i++) {
      const msg = v.messages[i];
      if (hs.isWriteTurn()) {
        assert.strictEqual(hex(hs.writeMessage(Buffer.from(msg.payload, 'hex'))), msg.ciphertext,
          `${v.protocol_name}: handshake message ${i}`);
      } else {
        assert.strictEqual(hex(hs.readMessage(Buffer.from(msg.ciphertext, 'hex'))), msg.payload,
          `${v.protocol_name}: payload of handshake message ${i}`);
      }
    }
    assert.strictEqual(hex(hs.h), v.handshake_hash, `${v.protocol_name}: handshake hash`);
    const [tx, rx] = hs.split();
    // Messages alternate initiator, responder, ... on through the transport.
    for (; i < v.messages.length; i++) {
      const msg = v.messages[i];
      if (i % 2 === 0) {
        assert.strictEqual(hex(tx.encrypt(Buffer.alloc(0), Buffer.from(msg.payload, 'hex'))), msg.ciphertext,
          `${v.protocol_name}: transport message ${i}`);
      } else {
        assert.strictEqual(hex(rx.decrypt(Buffer.alloc(0), Buffer.from(msg.ciphertext, 'hex'))), msg.payload,
          `${v.protocol_name}: transport message ${i}`);
      }
    }
    names.push(v.protocol_name.split('_')[1]);
  }
  assert(names.includes('XX'), 'no XX vector was checked');
  // A tampered message must not decrypt.
  const v = vectors.find((x) => x.protocol_name === 'Noise_XX_25519_ChaChaPoly_SHA256');
  const hs = new Initiator(v.protocol_name, Buffer.from(v.init_prologue, 'hex'),
    Buffer.from(v.init_static, 'hex'), Buffer.from(v.init_ephemeral, 'hex'));
  hs.writeMessage(Buffer.from(v.messages[0].payload, 'hex'));
  const bad = Buffer.from(v.messages[1].ciphertext, 'hex');
  bad[bad.length - 1] ^= 1;
  assert.throws(() => hs.readMessage(bad), 'a tampered message 2 was accepted');
  console.log(`noise: ${names.length} cacophony vectors match (${names.join(' ')})`);
}

// The fields of a block of docs/protocol.md: "label: hex" lines and
// "label:" followed by indented hex lines.
function docBlock(doc, name) {
  const begin = `<!-- BEGIN example:${name} -->\n`;
  const from = doc.indexOf(begin);
  const to = doc.indexOf(`<!-- END example:${name} -->\n`);
  assert(from >= 0 && to > from, `docs/protocol.md lacks example:${name}`);
  const fields = {};
  let open = null;
  for (const line of doc.slice(from + begin.length, to).split('\n')) {
    let m;
    if ((m = /^([a-z ]+): ([0-9a-f]+)$/.exec(line))) {
      fields[m[1]] = Buffer.from(m[2], 'hex');
      open = null;
    } else if ((m = /^([a-z ]+ hex):$/.exec(line))) {
      open = m[1];
      fields[open] = Buffer.alloc(0);
    } else if (open && /^ {2}[0-9a-f]{2}( [0-9a-f]{2})*$/.test(line)) {
      fields[open] = Buffer.concat([fields[open], Buffer.from(line.replace(/ /g, ''), 'hex')]);
    } else {
      open = null;
    }
  }
  return fields;
}

function seedFrom(first) {
  return Buffer.from(Array.from({ length: 32 }, (_, i) => first + i));
}

function checkSealed(name, want, kind, typeName, obj, key) {
  const { envelope, id } = custody.seal(kind, typeName, obj, key);
  assert.strictEqual(hex(envelope.body), hex(want['body hex']), `${name}: body bytes`);
  assert.strictEqual(hex(envelope.sig), hex(want.signature), `${name}: signature`);
  assert.strictEqual(hex(id), hex(want[kind === 'event' ? 'event id' : 'action id']), `${name}: id`);
  assert(custody.verifyEnvelope(kind, envelope), `${name}: signature does not verify`);
  assert(!custody.verifyEnvelope(kind === 'event' ? 'admin' : 'event', envelope), `${name}: domain`);
  return { envelope, id };
}

function checkDocExamples() {
  const doc = fs.readFileSync(path.join(REPO, 'docs', 'protocol.md'), 'utf8');
  const at = 1764547200000; // 2025-12-01T00:00:00Z

  const a = docBlock(doc, 'admin');
  const admin = custody.keyFromSeed(seedFrom(0x00));
  assert.strictEqual(hex(admin.seed), hex(a['admin seed']), 'admin seed');
  assert.strictEqual(hex(admin.pub), hex(a['admin public key']), 'admin public key');
  checkSealed('admin', a, 'admin', 'AdminAction', {
    issuedAtMs: at,
    registerParty: { id: 'acme', name: 'Acme Cloud', country: 'US', hqCountry: 'US', parentCountry: 'US', roles: ['EXPORTER', 'OPERATOR'] },
  }, admin);

  const r = docBlock(doc, 'register');
  const exporter = custody.keyFromSeed(seedFrom(0x20));
  assert.strictEqual(hex(exporter.pub), hex(r['exporter public key']), 'exporter public key');
  const reg = checkSealed('register', r, 'event', 'Event', {
    type: 'REGISTER', actor: 'acme', occurredAtMs: at, facility: 'acme-us-1',
    devices: [{ serial: 'GPU-1', kind: 'CHIP', model: 'H100-SXM' }],
  }, exporter);
  assert.strictEqual(hex(custody.frame({ id: 1, submit: reg.envelope })), hex(r['frame hex']), 'register: frame');

  const i = docBlock(doc, 'install');
  checkSealed('install', i, 'event', 'Event', {
    type: 'INSTALL', actor: 'acme', occurredAtMs: at + 3600000, facility: 'acme-us-1',
    devices: [{ serial: 'GPU-1', prev: reg.id }], location: 'hall-2/rack-14',
  }, exporter);
  console.log('docs/protocol.md: the 3 worked examples match protobufjs + node Ed25519 byte for byte');
}

checkNoiseVectors();
checkDocExamples();
