// client.js - an independent custody client against a real custodyd, over
// TCP inside the Noise channel, written from proto/custody.proto and
// docs/protocol.md only (tests/integration/89-client-js.sh runs it).
//
//   node client.js HOST:PORT SERVER_KEY_PUB ADMIN_KEY WORKDIR
//
// As the bootstrap admin it registers a party, an exporter key (made
// here, saved as WORKDIR/exporter.key in custody's key file format) and a
// facility; as that exporter it registers three devices, packs two into
// the third and installs it, computing every prev as the id (SHA-256 of
// the body) of the device's last event; it queries where and history and
// checks the signatures the server hands back; and it provokes the
// documented errors. Every check that fails throws (exit 1). On success
// it prints a JSON summary (event ids, hex) for the shell to cross-check.
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const path = require('path');
const custody = require('./custody');

const hex = (b) => Buffer.from(b).toString('hex');
const [server, serverKeyFile, adminKeyFile, workdir] = process.argv.slice(2);
const [host, port] = server.split(':');
const PARTY = 'jsco';
const FACILITY = 'js-us-1';

function expectError(resp, code, what) {
  assert.strictEqual(resp.body, 'error', `${what}: expected error ${code}, got ${JSON.stringify(resp)}`);
  assert.strictEqual(resp.error.code, code, `${what}: ${resp.error.message}`);
  return resp.error;
}

function expectBody(resp, body, what) {
  assert.strictEqual(resp.body, body,
    `${what}: expected ${body}, got ${resp.body === 'error' ? `${resp.error.code}: ${resp.error.message}` : resp.body}`);
  return resp[body];
}

// Waits until conn's socket closes.
function closed(conn) {
  return new Promise((resolve) => {
    if (conn.sock.destroyed) resolve();
    else conn.sock.on('close', resolve);
  });
}

async function asAdmin(serverPub) {
  const admin = custody.loadSecretKey(adminKeyFile);
  const conn = await custody.Connection.open(host, port, admin, serverPub);
  const info = expectBody(await conn.request({ keyInfo: { pubkey: admin.pub } }), 'keyInfo', 'admin key_info');
  assert.strictEqual(info.bootstrapAdmin, true, 'the admin key is the bootstrap admin');

  const act = async (action, what) => {
    const sealed = custody.seal('admin', 'AdminAction', { issuedAtMs: Date.now(), ...action }, admin);
    const r = expectBody(await conn.request({ admin: sealed.envelope }), 'admin', what);
    assert.strictEqual(hex(r.actionId), hex(sealed.id), `${what}: action id is SHA-256(body)`);
    assert(r.seq > 0 && !r.duplicate, `${what}: stored`);
    assert(r.receipt && r.receipt.treeSize > r.receipt.index, `${what}: log receipt`);
    return { sealed, r };
  };
  const party = await act({
    registerParty: {
      id: PARTY, name: 'JS Client Co', country: 'US', hqCountry: 'US', parentCountry: 'US', roles: ['EXPORTER', 'OPERATOR'],
    },
  }, 'register_party');
  // The same signed bytes again: idempotent.
  const again = expectBody(await conn.request({ admin: party.sealed.envelope }), 'admin', 'register_party again');
  assert(again.duplicate && again.seq === party.r.seq, 'a resubmitted admin action is a duplicate with the same seq');

  const exporter = custody.keyFromSeed(crypto.randomBytes(32));
  custody.saveKey(exporter, path.join(workdir, 'exporter.key'));
  await act({ registerKey: { pubkey: exporter.pub, party: PARTY, role: 'EXPORTER' } }, 'register_key');
  await act({
    registerFacility: {
      id: FACILITY, name: 'JS Ashburn', owner: PARTY, operator: PARTY, country: 'US', latitude: 39.04, longitude: -77.49,
    },
  }, 'register_facility');
  // An event signed by the admin key is not the admin's to sign.
  const ev = custody.seal('event', 'Event', {
    type: 'REGISTER', actor: PARTY, occurredAtMs: Date.now(), facility: FACILITY,
    devices: [{ serial: 'GPU-JS-ADMIN', kind: 'CHIP', model: 'H100-SXM' }],
  }, admin);
  expectError(await conn.request({ submit: ev.envelope }), 'FORBIDDEN', 'an admin submitting an event');
  conn.close();
  return exporter;
}

async function handshakeErrors(serverPub, exporter) {
  // A key that is not registered: one Error frame (id 0), then the close.
  const stranger = custody.keyFromSeed(crypto.randomBytes(32));
  const conn = await custody.Connection.open(host, port, stranger, serverPub);
  await closed(conn);
  assert.strictEqual(conn.pushed.length, 1, 'one error frame for an unregistered key');
  expectError(conn.pushed[0], 'UNAUTHENTICATED', 'an unregistered key');
  assert.strictEqual(conn.pushed[0].id, 0, 'the refusal has id 0');
  // A server that is not the pinned one: the client refuses message 2.
  await assert.rejects(custody.Connection.open(host, port, exporter, exporter.pub), /not the pinned key/);
}

async function asExporter(serverPub, exporter) {
  const conn = await custody.Connection.open(host, port, exporter, serverPub);
  const info = expectBody(await conn.request({ keyInfo: { pubkey: exporter.pub } }), 'keyInfo', 'exporter key_info');
  assert.strictEqual(info.party.id, PARTY, 'key_info names the party');
  assert.strictEqual(info.key.role, 'EXPORTER', 'key_info names the role');

  const seal = (event) => custody.seal('event', 'Event', { actor: PARTY, occurredAtMs: Date.now(), ...event }, exporter);
  const submit = async (event, what) => {
    const sealed = seal(event);
    const r = expectBody(await conn.request({ submit: sealed.envelope }), 'submit', what);
    assert.strictEqual(hex(r.eventId), hex(sealed.id), `${what}: event id is SHA-256(body)`);
    assert(['ACCEPT', 'ACCEPT_WITH_ALERTS'].includes(r.verdict), `${what}: verdict ${r.verdict}`);
    assert(r.seq > 0 && r.receipt && r.receipt.checkpoint.length > 0, `${what}: seq and receipt`);
    return { ...sealed, r };
  };
  const where = async (serial) => expectBody(await conn.request({ where: { serial } }), 'where', `where ${serial}`);

  const reg = await submit({
    type: 'REGISTER', facility: FACILITY,
    devices: [
      { serial: 'GPU-JS-1', kind: 'CHIP', model: 'H100-SXM' },
      { serial: 'GPU-JS-2', kind: 'CHIP', model: 'H100-SXM' },
      { serial: 'SRV-JS-1', kind: 'SERVER', model: 'DGX-H100' },
    ],
  }, 'REGISTER');
  // prev of each device: the id of its last event (here the REGISTER).
  const pack = await submit({
    type: 'PACK', facility: FACILITY, container: { serial: 'SRV-JS-1', prev: reg.id },
    devices: [{ serial: 'GPU-JS-1', prev: reg.id }, { serial: 'GPU-JS-2', prev: reg.id }],
  }, 'PACK');
  const install = await submit({
    type: 'INSTALL', facility: FACILITY, location: 'hall-1/rack-3', devices: [{ serial: 'SRV-JS-1', prev: pack.id }],
  }, 'INSTALL');

  // Pipelined: three where requests in flight at once, answered by id.
  const [gpu, gpu2, srv] = await Promise.all(['GPU-JS-1', 'GPU-JS-2', 'SRV-JS-1'].map(where));
  assert.deepStrictEqual([gpu.serial, gpu2.serial, srv.serial], ['GPU-JS-1', 'GPU-JS-2', 'SRV-JS-1'], 'answers match ids');
  assert.strictEqual(gpu.status, 'INSTALLED', 'a chip inside an installed server is installed');
  assert.strictEqual(gpu.container, 'SRV-JS-1', 'the chip is inside the server');
  assert.strictEqual(hex(gpu.head), hex(pack.id), "the chip's head is the last event that named it");
  assert.strictEqual(hex(gpu.lastEvent), hex(install.id), "the chip's last event came through its container");
  assert.strictEqual(gpu.lastVia, 'SRV-JS-1', 'last_via');
  assert.strictEqual(hex(srv.head), hex(install.id), "the server's head is the INSTALL");
  assert.strictEqual(srv.contentsCount, 2, 'two chips inside');
  assert.strictEqual(srv.location, 'hall-1/rack-3', 'location');

  // History: oldest first, each envelope exactly as signed.
  const hist = expectBody(await conn.request({ history: { serial: 'GPU-JS-1' } }), 'history', 'history');
  assert.deepStrictEqual(hist.entries.map((e) => e.type), ['REGISTER', 'PACK', 'INSTALL'], 'history types');
  assert.deepStrictEqual(hist.entries.map((e) => e.via), ['', '', 'SRV-JS-1'], 'history via');
  assert.deepStrictEqual(hist.entries.map((e) => hex(e.eventId)), [reg, pack, install].map((x) => hex(x.id)), 'history ids');
  assert.strictEqual(hex(hist.entries[1].prev), hex(reg.id), 'the PACK entry names its prev');
  for (const e of hist.entries) {
    assert(custody.verifyEnvelope('event', e.envelope), `history: ${e.type} signature verifies`);
    assert.strictEqual(hex(custody.sha256(e.envelope.body)), hex(e.eventId), `history: ${e.type} id`);
  }

  // Errors, each documented in docs/protocol.md.
  const move = seal({ type: 'MOVE', facility: FACILITY, location: 'hall-1/rack-4', devices: [{ serial: 'SRV-JS-1', prev: install.id }] });
  const forged = { ...move.envelope, sig: Buffer.from(move.envelope.sig) };
  forged.sig[0] ^= 0x01;
  expectError(await conn.request({ submit: forged }), 'UNAUTHENTICATED', 'a bad signature');
  assert.strictEqual(hex((await where('SRV-JS-1')).head), hex(install.id), 'a refused event changes nothing');

  const stale = seal({ type: 'MOVE', facility: FACILITY, location: 'hall-1/rack-4', devices: [{ serial: 'SRV-JS-1', prev: pack.id }] });
  const conflict = expectError(await conn.request({ submit: stale.envelope }), 'CONFLICT', 'a stale prev');
  assert.strictEqual(conflict.heads[0].serial, 'SRV-JS-1', 'CONFLICT names the device');
  assert.strictEqual(hex(conflict.heads[0].prev), hex(install.id), 'CONFLICT carries the current head');
  // Re-sign with the head the CONFLICT gave: accepted.
  const moved = await submit({
    type: 'MOVE', facility: FACILITY, location: 'hall-1/rack-4', devices: [{ serial: 'SRV-JS-1', prev: conflict.heads[0].prev }],
  }, 'MOVE after CONFLICT');

  const dup = expectBody(await conn.request({ submit: reg.envelope }), 'submit', 'REGISTER again');
  assert(dup.duplicate && dup.seq === reg.r.seq && hex(dup.eventId) === hex(reg.id), 'a resubmitted event is a duplicate');

  const unknown = seal({ type: 'REGISTER', facility: FACILITY, devices: [{ serial: 'GPU-JS-X', kind: 'CHIP', model: 'NO-SUCH-CHIP' }] });
  const rej = expectError(await conn.request({ submit: unknown.envelope }), 'REJECTED', 'an unknown chip model');
  assert.strictEqual(rej.rules[0].rule, 'model.unknown', 'REJECTED names the rule');
  assert(rej.recordedSeq > 0 && hex(rej.eventId) === hex(unknown.id) && rej.receipt, 'REJECTED is kept as evidence');

  const noPrev = seal({ type: 'REMOVE', facility: FACILITY, devices: [{ serial: 'SRV-JS-1' }] });
  assert.match(expectError(await conn.request({ submit: noPrev.envelope }), 'BAD_REQUEST', 'no prev').message, /prev/);
  const zero = await conn.request({ where: { serial: 'GPU-JS-1' } }, 0);
  expectError(zero, 'BAD_REQUEST', 'request id 0');
  expectError(await conn.request({ entries: { start: 0, count: 1 } }), 'FORBIDDEN', 'entries as an exporter');
  expectError(await conn.request({ where: { serial: 'NO-SUCH-DEVICE' } }), 'FORBIDDEN', 'where of an unknown serial, scoped');
  conn.close();
  return {
    exporter_key: path.join(workdir, 'exporter.key'),
    register: hex(reg.id), pack: hex(pack.id), install: hex(install.id), move: hex(moved.id), rejected: hex(unknown.id),
  };
}

async function main() {
  const serverPub = custody.loadPublicKey(serverKeyFile);
  const exporter = await asAdmin(serverPub);
  await handshakeErrors(serverPub, exporter);
  const summary = await asExporter(serverPub, exporter);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((e) => {
  console.error(`client.js: ${e.stack || e}`);
  process.exit(1);
});
