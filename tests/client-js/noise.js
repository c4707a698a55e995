// noise.js - the initiator side of the Noise Protocol Framework (revision
// 34) for 25519 + ChaChaPoly + SHA256, on node's crypto only, written from
// the Noise specification and docs/protocol.md (not from custody's C).
//
// Patterns without pre-messages (NN, NX, XN, XX, IN, IX) are supported so
// that selftest.js can check this code against the cacophony vectors of
// tests/data/noise/; custody itself uses XX.
'use strict';

const crypto = require('crypto');

const DHLEN = 32;
const TAGLEN = 16;
const EMPTY = Buffer.alloc(0);

// DER wrappers that let node import raw 32-byte X25519 and Ed25519 keys.
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

const PATTERNS = {
  NN: [['e'], ['e', 'ee']],
  NX: [['e'], ['e', 'ee', 's', 'es']],
  XN: [['e'], ['e', 'ee'], ['s', 'se']],
  XX: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
  IN: [['e', 's'], ['e', 'ee', 'se']],
  IX: [['e', 's'], ['e', 'ee', 'se', 's', 'es']],
};

function sha256(...parts) {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function hmac(key, ...parts) {
  const h = crypto.createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

// HKDF of the Noise spec (section 4.3) with two or three outputs.
function hkdf(ck, ikm, n) {
  const temp = hmac(ck, ikm);
  const o1 = hmac(temp, Buffer.from([1]));
  const o2 = hmac(temp, o1, Buffer.from([2]));
  if (n === 2) return [o1, o2];
  return [o1, o2, hmac(temp, o2, Buffer.from([3]))];
}

// An X25519 key pair from a 32-byte secret (clamped by X25519 itself).
function x25519KeyPair(secret) {
  const priv = crypto.createPrivateKey({
    key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8',
  });
  const pub = crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return { priv, pub: pub.subarray(pub.length - DHLEN) };
}

function dh(pair, remotePub) {
  const pub = crypto.createPublicKey({
    key: Buffer.concat([X25519_SPKI, remotePub]), format: 'der', type: 'spki',
  });
  return crypto.diffieHellman({ privateKey: pair.priv, publicKey: pub });
}

// ChaCha20-Poly1305 (IETF) with the Noise nonce: 4 zero bytes, then the
// 64-bit counter little-endian.
function nonceBytes(n) {
  const b = Buffer.alloc(12);
  b.writeBigUInt64LE(n, 4);
  return b;
}

function aeadEncrypt(k, n, ad, pt) {
  const c = crypto.createCipheriv('chacha20-poly1305', k, nonceBytes(n), { authTagLength: TAGLEN });
  c.setAAD(ad, { plaintextLength: pt.length });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

function aeadDecrypt(k, n, ad, ct) {
  if (ct.length < TAGLEN) throw new Error('noise: ciphertext shorter than its tag');
  const d = crypto.createDecipheriv('chacha20-poly1305', k, nonceBytes(n), { authTagLength: TAGLEN });
  d.setAAD(ad, { plaintextLength: ct.length - TAGLEN });
  d.setAuthTag(ct.subarray(ct.length - TAGLEN));
  return Buffer.concat([d.update(ct.subarray(0, ct.length - TAGLEN)), d.final()]);
}

const MAX_NONCE = 0xffffffffffffffffn; // reserved: never used

// A CipherState (spec section 5.1).
class CipherState {
  constructor(k) {
    this.k = k || null;
    this.n = 0n;
  }

  hasKey() {
    return this.k !== null;
  }

  encrypt(ad, pt) {
    if (!this.hasKey()) return pt;
    if (this.n === MAX_NONCE) throw new Error('noise: nonce exhausted');
    const ct = aeadEncrypt(this.k, this.n, ad, pt);
    this.n += 1n;
    return ct;
  }

  decrypt(ad, ct) {
    if (!this.hasKey()) return ct;
    if (this.n === MAX_NONCE) throw new Error('noise: nonce exhausted');
    const pt = aeadDecrypt(this.k, this.n, ad, ct); // throws on a bad tag
    this.n += 1n;
    return pt;
  }
}

// The initiator's HandshakeState (spec sections 5.2 and 5.3).
class Initiator {
  // protocolName e.g. "Noise_XX_25519_ChaChaPoly_SHA256"; prologue a
  // Buffer; staticSecret the 32-byte X25519 secret (or null when the
  // pattern sends none); ephemeralSecret fixes e (test vectors only).
  constructor(protocolName, prologue, staticSecret, ephemeralSecret) {
    const m = /^Noise_([A-Z]+)_25519_ChaChaPoly_SHA256$/.exec(protocolName);
    if (!m || !PATTERNS[m[1]]) throw new Error(`noise: unsupported protocol ${protocolName}`);
    this.messages = PATTERNS[m[1]];
    const name = Buffer.from(protocolName, 'ascii');
    this.h = name.length <= 32 ? Buffer.concat([name, Buffer.alloc(32 - name.length)]) : sha256(name);
    this.ck = this.h;
    this.cipher = new CipherState();
    this.mixHash(prologue);
    this.s = staticSecret ? x25519KeyPair(staticSecret) : null;
    this.fixedE = ephemeralSecret || null;
    this.e = null;
    this.re = null;
    this.rs = null;
    this.step = 0;
  }

  mixHash(data) {
    this.h = sha256(this.h, data);
  }

  mixKey(ikm) {
    const [ck, k] = hkdf(this.ck, ikm, 2);
    this.ck = ck;
    this.cipher = new CipherState(k);
  }

  encryptAndHash(pt) {
    const ct = this.cipher.encrypt(this.h, pt);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ct) {
    const pt = this.cipher.decrypt(this.h, ct);
    this.mixHash(ct);
    return pt;
  }

  isWriteTurn() {
    return this.step < this.messages.length && this.step % 2 === 0;
  }

  isDone() {
    return this.step === this.messages.length;
  }

  // The DH of a token, from the initiator's side.
  mixDh(token) {
    const pairs = {
      ee: [this.e, this.re], es: [this.e, this.rs], se: [this.s, this.re], ss: [this.s, this.rs],
    };
    const [mine, theirs] = pairs[token];
    if (!mine || !theirs) throw new Error(`noise: token ${token} lacks a key`);
    this.mixKey(dh(mine, theirs));
  }

  // The next handshake message carrying payload (a Buffer).
  writeMessage(payload) {
    if (!this.isWriteTurn()) throw new Error('noise: not our turn to write');
    const out = [];
    for (const token of this.messages[this.step]) {
      if (token === 'e') {
        this.e = x25519KeyPair(this.fixedE || crypto.randomBytes(32));
        out.push(this.e.pub);
        this.mixHash(this.e.pub);
      } else if (token === 's') {
        out.push(this.encryptAndHash(this.s.pub));
      } else {
        this.mixDh(token);
      }
    }
    out.push(this.encryptAndHash(payload));
    this.step++;
    return Buffer.concat(out);
  }

  // Reads the responder's next handshake message; returns its payload.
  readMessage(msg) {
    if (this.isWriteTurn() || this.isDone()) throw new Error('noise: not our turn to read');
    let pos = 0;
    const take = (n) => {
      if (msg.length - pos < n) throw new Error('noise: handshake message too short');
      const b = msg.subarray(pos, pos + n);
      pos += n;
      return b;
    };
    for (const token of this.messages[this.step]) {
      if (token === 'e') {
        this.re = Buffer.from(take(DHLEN));
        this.mixHash(this.re);
      } else if (token === 's') {
        this.rs = Buffer.from(this.decryptAndHash(take(this.cipher.hasKey() ? DHLEN + TAGLEN : DHLEN)));
      } else {
        this.mixDh(token);
      }
    }
    const payload = this.decryptAndHash(msg.subarray(pos));
    this.step++;
    return payload;
  }

  // After the last message: [send, receive] cipher states.
  split() {
    if (!this.isDone()) throw new Error('noise: handshake not finished');
    const [k1, k2] = hkdf(this.ck, EMPTY, 2);
    return [new CipherState(k1), new CipherState(k2)];
  }
}

module.exports = { Initiator, CipherState, x25519KeyPair, TAGLEN };
