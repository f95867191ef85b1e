package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// KeySize is the size in bytes of every encryption key: 32 bytes (256 bits).
const KeySize = 32

// Cipher selects the AEAD a Keyring encrypts with. The zero value is AESGCM.
type Cipher int

const (
	// AESGCM is AES-256-GCM with a random 96-bit nonce per message (the
	// default). It is fast on CPUs with AES instructions. With random
	// nonces, NIST advises no more than 2^32 messages per key: rotate keys
	// well before a single key has encrypted billions of session writes.
	AESGCM Cipher = iota
	// XChaCha20Poly1305 is XChaCha20-Poly1305 (golang.org/x/crypto) with a
	// random 192-bit nonce per message. Random nonces are safe for a
	// practically unlimited number of messages per key, and it is fast
	// without AES hardware; blobs are 12 bytes longer than with AESGCM.
	XChaCha20Poly1305
)

// String returns the cipher's name.
func (c Cipher) String() string {
	switch c {
	case AESGCM:
		return "AES-256-GCM"
	case XChaCha20Poly1305:
		return "XChaCha20-Poly1305"
	}
	return fmt.Sprintf("Cipher(%d)", int(c))
}

// id is the cipher's identifier in the stored format.
func (c Cipher) id() byte { return byte(c) + 1 }

func (c Cipher) nonceSize() int {
	if c == XChaCha20Poly1305 {
		return chacha20poly1305.NonceSizeX
	}
	return 12
}

// Key is one encryption key of a Keyring.
type Key struct {
	// ID identifies the key in every blob it encrypts (stored in clear in
	// the blob header). IDs must be unique within a keyring and should never
	// be reused for a different secret: a blob naming a reused ID fails
	// authentication instead of reporting ErrUnknownKey.
	ID uint32
	// Secret is the key material: exactly KeySize (32) random bytes, for
	// example from crypto/rand or DeriveKey. NewKeyring copies it into the
	// cipher state; the slice is not retained.
	Secret []byte
}

type keyEntry struct {
	id   uint32
	aead cipher.AEAD
}

// Keyring holds the keys a Pipeline encrypts and decrypts with. It is
// immutable after NewKeyring and safe for concurrent use.
type Keyring struct {
	cipher Cipher
	keys   []keyEntry // keys[0] encrypts
}

// NewKeyring returns a keyring of keys for cipher c. keys[0] is the newest
// key: it encrypts every new blob. Every listed key decrypts. To rotate, put
// a new key first and keep the old ones after it for as long as sessions
// they encrypted may live (the absolute session lifetime); then drop them.
// Blobs of a dropped key fail with ErrUnknownKey.
//
// NewKeyring returns an error for an unknown cipher, no keys, a secret that
// is not exactly 32 bytes, or a duplicate key ID.
func NewKeyring(c Cipher, keys ...Key) (*Keyring, error) {
	if c != AESGCM && c != XChaCha20Poly1305 {
		return nil, fmt.Errorf("codec: unknown cipher %v", c)
	}
	if len(keys) == 0 {
		return nil, errors.New("codec: keyring needs at least one key")
	}
	kr := &Keyring{cipher: c, keys: make([]keyEntry, 0, len(keys))}
	for i, k := range keys {
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("codec: key %d (ID %d): secret is %d bytes, want %d", i, k.ID, len(k.Secret), KeySize)
		}
		for _, e := range kr.keys {
			if e.id == k.ID {
				return nil, fmt.Errorf("codec: duplicate key ID %d", k.ID)
			}
		}
		var aead cipher.AEAD
		var err error
		switch c {
		case AESGCM:
			var block cipher.Block
			if block, err = aes.NewCipher(k.Secret); err == nil {
				aead, err = cipher.NewGCM(block)
			}
		case XChaCha20Poly1305:
			aead, err = chacha20poly1305.NewX(k.Secret)
		}
		if err != nil {
			return nil, fmt.Errorf("codec: key ID %d: %w", k.ID, err)
		}
		kr.keys = append(kr.keys, keyEntry{id: k.ID, aead: aead})
	}
	return kr, nil
}

// Cipher returns the keyring's cipher.
func (k *Keyring) Cipher() Cipher { return k.cipher }

// KeyIDs returns the IDs of the keyring's keys, newest (the encrypting key)
// first.
func (k *Keyring) KeyIDs() []uint32 {
	ids := make([]uint32, len(k.keys))
	for i, e := range k.keys {
		ids[i] = e.id
	}
	return ids
}

func (k *Keyring) lookup(id uint32) cipher.AEAD {
	for i := range k.keys {
		if k.keys[i].id == id {
			return k.keys[i].aead
		}
	}
	return nil
}

// MinSecretSize is the minimum length in bytes of the application secret
// given to DeriveKey.
const MinSecretSize = 32

// DeriveKey derives a 32-byte key for one purpose from an application
// secret with HKDF-SHA256 (RFC 5869; no salt, info "sessionkit/session " +
// purpose). Different purposes give independent keys, so one secret can
// feed both the cookie signing key (for example purpose "cookie-signing")
// and the store encryption key ("store-encryption") without either key
// revealing the other.
//
// secret must be at least 32 bytes of high-entropy data (random bytes, not a
// password: HKDF does not slow down guessing). purpose must not be empty.
// The same secret and purpose always derive the same key, so rotating the
// secret rotates every derived key.
func DeriveKey(secret []byte, purpose string) ([]byte, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("codec: secret is %d bytes, need at least %d", len(secret), MinSecretSize)
	}
	if purpose == "" {
		return nil, errors.New("codec: DeriveKey needs a purpose")
	}
	key := make([]byte, KeySize)
	r := hkdf.New(sha256.New, secret, nil, []byte("sessionkit/session "+purpose))
	if _, err := io.ReadFull(r, key); err != nil {
		return nil, fmt.Errorf("codec: derive key: %w", err)
	}
	return key, nil
}
