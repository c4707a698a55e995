// custody.js - a small custody client library for node, written from
// proto/custody.proto and docs/protocol.md only: key files, signed
// envelopes, frames, and a Noise_XX connection over TCP that pipelines
// requests by id.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const protobuf = require('protobufjs');
const { Initiator } = require('./noise');

const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const PROLOGUE = Buffer.from('custody/noise/v1', 'ascii');
const PROTOCOL = 'Noise_XX_25519_ChaChaPoly_SHA256';
const DOMAIN = { event: 'custody/event/v1\n', admin: 'custody/admin/v1\n' };
const MAX_PLAINTEXT = 65535 - 16;

// The .proto, loaded at run time (protobufjs parses it).
const root = protobuf.loadSync(path.join(__dirname, '..', '..', 'proto', 'custody.proto'));
const T = (name) => root.lookupType(`custody.${name}`);
const E = (name) => root.lookupEnum(`custody.${name}`).values;

// ---- keys ----------------------------------------------------------------

// An Ed25519 identity from its 32-byte seed: { seed, pub, priv }.
function keyFromSeed(seed) {
  const priv = crypto.createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8',
  });
  const spki = crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return { seed: Buffer.from(seed), pub: spki.subarray(spki.length - 32), priv };
}

// Reads a "custody secret key v1" file (the seed, base64).
function loadSecretKey(file) {
  const lines = fs.readFileSync(file, 'ascii').split('\n');
  if (lines[0] !== 'custody secret key v1') throw new Error(`${file}: not a custody secret key`);
  const seed = Buffer.from(lines[1], 'base64');
  if (seed.length !== 32) throw new Error(`${file}: the seed is not 32 bytes`);
  return keyFromSeed(seed);
}

// Reads a "custody public key v1" file (the key, base64).
function loadPublicKey(file) {
  const lines = fs.readFileSync(file, 'ascii').split('\n');
  if (lines[0] !== 'custody public key v1') throw new Error(`${file}: not a custody public key`);
  const pub = Buffer.from(lines[1], 'base64');
  if (pub.length !== 32) throw new Error(`${file}: the key is not 32 bytes`);
  return pub;
}

// Writes key as a secret key file (0600) and PATH.pub, as custodyctl keygen does.
function saveKey(key, file) {
  fs.writeFileSync(file, `custody secret key v1\n${key.seed.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(`${file}.pub`, `custody public key v1\n${key.pub.toString('base64')}\n`, { mode: 0o644, flag: 'wx' });
}

// X25519 forms of an Ed25519 identity (RFC 7748 birational map), for Noise.
const P = (1n << 255n) - 19n;

function modPow(b, e) {
  let r = 1n;
  b %= P;
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
  }
  return r;
}

// u = (1 + y) / (1 - y) mod p, y the Edwards y coordinate (little-endian, sign bit cleared).
function x25519PublicFromEd25519(pub) {
  const le = Buffer.from(pub);
  le[31] &= 0x7f;
  const y = BigInt(`0x${Buffer.from(le).reverse().toString('hex')}`);
  if (y >= P || y === 1n) throw new Error('not a usable Ed25519 public key');
  const u = ((1n + y) * modPow((1n - y + P) % P, P - 2n)) % P;
  return Buffer.from(u.toString(16).padStart(64, '0'), 'hex').reverse();
}

// The X25519 secret: the first 32 bytes of SHA-512(seed), clamped.
function x25519SecretFromEd25519(seed) {
  const h = crypto.createHash('sha512').update(seed).digest().subarray(0, 32);
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  return h;
}

// ---- signed envelopes ----------------------------------------------------

function sha256(b) {
  return crypto.createHash('sha256').update(b).digest();
}

// Encodes obj as message type typeName, signs it in domain kind ("event"
// or "admin"): a SignedEnvelope object, plus the body's id.
function seal(kind, typeName, obj, key) {
  const type = T(typeName);
  const msg = type.fromObject(obj);
  const err = type.verify(msg);
  if (err) throw new Error(`${typeName}: ${err}`);
  const body = Buffer.from(type.encode(msg).finish());
  const sig = crypto.sign(null, Buffer.concat([Buffer.from(DOMAIN[kind], 'ascii'), body]), key.priv);
  return { envelope: { body, signer: key.pub, sig }, id: sha256(body) };
}

// Does env (a SignedEnvelope) carry a valid signature in domain kind?
function verifyEnvelope(kind, env) {
  const pub = crypto.createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), env.signer]), format: 'der', type: 'spki',
  });
  return crypto.verify(null, Buffer.concat([Buffer.from(DOMAIN[kind], 'ascii'), env.body]), pub, env.sig);
}

// ---- frames ---------------------------------------------------------------

function frame(request) {
  const body = Buffer.from(T('Request').encode(T('Request').fromObject(request)).finish());
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(body.length);
  return Buffer.concat([hdr, body]);
}

// ---- the connection ---------------------------------------------------------

// A Noise connection to custodyd at host:port as identity key, pinning the
// server's Ed25519 key serverPub. Use Connection.open().
class Connection {
  constructor(sock, tx, rx) {
    this.sock = sock;
    this.tx = tx;
    this.rx = rx;
    this.plain = Buffer.alloc(0);
    this.waiting = new Map(); // request id -> { resolve, reject }
    this.pushed = []; // responses with id 0
    this.nextId = 1;
    this.closed = null;
  }

  static open(host, port, key, serverPub) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, host);
      const hs = new Initiator(PROTOCOL, PROLOGUE, x25519SecretFromEd25519(key.seed));
      const expectServer = x25519PublicFromEd25519(serverPub);
      let wire = Buffer.alloc(0);
      let conn = null;
      const fail = (e) => {
        sock.destroy();
        reject(e);
      };
      const send = (msg) => {
        const hdr = Buffer.alloc(2);
        hdr.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([hdr, msg]));
      };
      sock.on('connect', () => send(hs.writeMessage(Buffer.alloc(0))));
      sock.on('error', (e) => (conn ? conn.shutdown(e) : fail(e)));
      sock.on('close', () => (conn ? conn.shutdown(new Error('connection closed')) : fail(new Error('closed during the handshake'))));
      sock.on('data', (chunk) => {
        wire = Buffer.concat([wire, chunk]);
        try {
          while (wire.length >= 2 && wire.length >= 2 + wire.readUInt16BE(0)) {
            const msg = wire.subarray(2, 2 + wire.readUInt16BE(0));
            wire = wire.subarray(2 + msg.length);
            if (conn) {
              conn.onMessage(msg);
              continue;
            }
            // Message 2: e, ee, s, es from the server, empty payload.
            if (hs.readMessage(msg).length !== 0) throw new Error('message 2 has a payload');
            if (!hs.rs.equals(expectServer)) throw new Error('the server is not the pinned key');
            // Message 3: s, se with our Ed25519 public key as payload.
            send(hs.writeMessage(key.pub));
            const [tx, rx] = hs.split();
            conn = new Connection(sock, tx, rx);
            resolve(conn);
          }
        } catch (e) {
          if (conn) conn.shutdown(e);
          else fail(e);
        }
      });
    });
  }

  // Decrypts one transport message and answers the requests it completes.
  onMessage(msg) {
    this.plain = Buffer.concat([this.plain, this.rx.decrypt(Buffer.alloc(0), msg)]);
    while (this.plain.length >= 4 && this.plain.length >= 4 + this.plain.readUInt32BE(0)) {
      const n = this.plain.readUInt32BE(0);
      const resp = T('Response').toObject(T('Response').decode(this.plain.subarray(4, 4 + n)), {
        longs: Number, enums: String, defaults: true, oneofs: true,
      });
      this.plain = this.plain.subarray(4 + n);
      const w = this.waiting.get(resp.id);
      if (w) {
        this.waiting.delete(resp.id);
        w.resolve(resp);
      } else {
        this.pushed.push(resp);
      }
    }
  }

  shutdown(err) {
    if (this.closed) return;
    this.closed = err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.sock.destroy();
  }

  // Seals the plaintext bytes into transport messages and sends them.
  write(bytes) {
    for (let off = 0; off < bytes.length; off += MAX_PLAINTEXT) {
      const ct = this.tx.encrypt(Buffer.alloc(0), bytes.subarray(off, off + MAX_PLAINTEXT));
      const hdr = Buffer.alloc(2);
      hdr.writeUInt16BE(ct.length);
      this.sock.write(Buffer.concat([hdr, ct]));
    }
  }

  // Sends Request {id, ...body} (id chosen here unless given) and resolves
  // with the Response object of the same id.
  request(body, id) {
    const rid = id !== undefined ? id : this.nextId++;
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      this.waiting.set(rid, { resolve, reject });
      this.write(frame({ id: rid, ...body }));
    });
  }

  close() {
    this.sock.end();
  }
}

module.exports = {
  root, T, E, keyFromSeed, loadSecretKey, loadPublicKey, saveKey, seal, verifyEnvelope, frame,
  sha256, x25519PublicFromEd25519, x25519SecretFromEd25519, Connection, DOMAIN,
};
